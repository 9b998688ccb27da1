"""The GloVe and RNN models go through the same `run_classification.py` path as the transformers: config ->
corpus -> (cleaning) -> model built from the training words -> Trainer -> saved folder that a pipeline serves."""

import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from transformers import pipeline

import run_classification
from data_scripts.text_cleaning import stopwords_record
from textcls_errors import TextclsError
from training.arguments import parse_arguments

REPO = Path(__file__).resolve().parent.parent
FOUR_GROUPS = ["alt.atheism", "comp.graphics", "sci.space", "rec.sport.hockey"]


def real_run(config: str, data_dir: Path, output_dir: Path, *overrides: str) -> dict[str, float]:
    """A short run of a shipped config on four real 20NG groups."""
    return run_classification.main(
        [str(REPO / "configs" / config), "--data_dir", str(data_dir / "20newsgroups"), "--output_dir", str(output_dir)]
        + ["--categories", *FOUR_GROUPS, "--max_train_samples", "800", "--max_eval_samples", "200"]
        + ["--max_predict_samples", "400", "--report_to", "none", *overrides]
    )


@pytest.mark.integration
def test_glove_learns_real_20newsgroups_and_its_folder_serves_a_pipeline(tmp_path, data_dir):
    output_dir = tmp_path / "glove"
    results = real_run("glove_20ng.json", data_dir, output_dir, "--num_train_epochs", "8")
    assert results["test_accuracy"] > 0.8, results

    saved = json.loads((output_dir / "config.json").read_text())
    assert saved["model_type"] == "textcls-glove"
    assert saved["id2label"] == {str(index): name for index, name in enumerate(sorted(FOUR_GROUPS))}
    assert "AutoModelForSequenceClassification" in saved["auto_map"]
    for name in ("predictions.csv", "confusion_matrix.png", "training_curves.png", "tokenizer.json"):
        assert (output_dir / name).exists(), name

    classify = pipeline("text-classification", model=str(output_dir))
    answer = classify("The shuttle launch put the telescope into orbit around the earth; NASA is pleased.")[0]
    assert answer["label"] == "sci.space", answer


@pytest.mark.integration
def test_lstm_with_cleaning_learns_real_20newsgroups(tmp_path, data_dir, caplog):
    output_dir = tmp_path / "lstm"
    with caplog.at_level(logging.INFO, logger="data_scripts"):
        results = real_run(
            "lstm_20ng.json",
            data_dir,
            output_dir,
            *("--remove_stopwords", "true", "--max_doc_tokens", "700", "--max_seq_length", "200"),
            *("--cell", "gru", "--hidden_size", "64", "--num_train_epochs", "6"),
        )
    assert results["test_accuracy"] > 0.6, results
    saved = json.loads((output_dir / "config.json").read_text())
    assert (saved["model_type"], saved["cell"], saved["hidden_size"]) == ("textcls-lstm", "gru", 64)
    # cleaning dropped only over-long training documents; every test document was predicted
    assert results["test_samples"] == 400
    dropped = re.search(r"train: dropped (\d+) of 800 documents", caplog.text)
    assert dropped is not None, "the cleaning reports what it dropped"
    assert results["train_samples"] == 800 - int(dropped.group(1))


@pytest.mark.integration
def test_a_saved_word_model_trains_on_from_its_folder(tmp_path, data_dir):
    """model_name_or_path accepts the folder of an earlier GloVe run (its vocabulary and vectors come along)."""
    first = tmp_path / "first"
    real_run("glove_20ng.json", data_dir, first, "--num_train_epochs", "2")
    results = run_classification.main(
        [
            "--model_name_or_path",
            str(first),
            "--dataset_name",
            "20newsgroups",
            "--data_dir",
            str(data_dir / "20newsgroups"),
        ]
        + ["--categories", *FOUR_GROUPS, "--max_train_samples", "800", "--max_eval_samples", "200"]
        + ["--max_predict_samples", "400", "--report_to", "none", "--output_dir", str(tmp_path / "second")]
        + [
            "--simple_preprocess",
            "true",
            "--learning_rate",
            "5e-3",
            "--num_train_epochs",
            "2",
            "--max_seq_length",
            "500",
        ]
    )
    assert results["test_accuracy"] > 0.7, results


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"model_name_or_path": "x", "model_type": "glove"}, "either model_name_or_path"),
        ({"model_type": "cnn"}, "model_type must be one of glove, lstm"),
        ({"model_type": "lstm", "cell": "transformer"}, "cell must be one of lstm, gru, rnn"),
        ({"model_type": "glove", "max_doc_tokens": 0}, "max_doc_tokens=0"),
        ({"model_type": "glove", "do_train": False}, "give its folder as model_name_or_path"),
        ({"model_type": "glove", "embedding_dropout": 0.2}, "embedding_dropout is word dropout before an RNN"),
        ({"model_type": "glove", "oov_min_count": -1}, "oov_min_count=-1: expected 0"),
        ({"model_type": "lstm", "word_vectors": "random", "oov_min_count": 2}, "this run has no pretrained vectors"),
        ({"model_type": "lstm", "embedding_init": "random", "oov_min_count": 2}, "this run has no pretrained vectors"),
    ],
)
def test_bad_word_model_settings_are_clear_errors(tmp_path, settings, message):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dataset_name": "20newsgroups", "output_dir": str(tmp_path / "out"), **settings}))
    with pytest.raises(TextclsError, match=message):
        run_classification.main([str(config)])


def test_embedding_dropout_reaches_the_lstm_config(tmp_path):
    config = tmp_path / "config.json"
    settings = {"model_type": "lstm", "output_dir": str(tmp_path / "out"), "embedding_dropout": 0.25}
    config.write_text(json.dumps(settings))
    model_args = parse_arguments([str(config)])[0]
    assert run_classification.word_model_settings(model_args)["embedding_dropout"] == 0.25
    model_args.embedding_dropout = None  # not set: the config's default (no word dropout)
    assert "embedding_dropout" not in run_classification.word_model_settings(model_args)


def tiny_word_run(tmp_path: Path, *overrides: str) -> dict[str, float]:
    """A GloVe model with random 8-d vectors on made-up documents: two topics, stop words and punctuation."""
    topics = {"space": "Rocket orbit launch moon", "food": "Recipe flour oven sugar"}
    for split, count in (("train", 40), ("validation", 10), ("test", 10)):
        rows = [
            {
                "text": f"The {topics[label].split()[i % 4]}, and the {topics[label].split()[(i + 1) % 4]}!",
                "label": label,
            }
            for i, label in enumerate(["space", "food"] * (count // 2))
        ]
        pd.DataFrame(rows).to_csv(tmp_path / f"{split}.csv", index=False)
    return run_classification.main(
        ["--model_type", "glove", "--word_vectors", "random", "--embedding_dim", "8", "--remove_stopwords", "true"]
        + [f"--{split}_file={tmp_path / f'{split}.csv'}" for split in ("train", "validation", "test")]
        + ["--output_dir", str(tmp_path / "out"), "--report_to", "none", "--learning_rate", "0.05"]
        + ["--per_device_train_batch_size", "8", "--warmup_steps", "0", *overrides]
    )


def test_a_word_model_resumes_with_its_own_vocabulary_and_keeps_raw_texts_and_cleaning(tmp_path):
    tiny_word_run(tmp_path, "--num_train_epochs", "1")
    out = tmp_path / "out"
    first_vocabulary = json.loads((out / "config.json").read_text())["vocab_size"]

    # Other settings continue a run only when its checkpoint is named; a changed vocabulary cap must then not
    # rebuild another vocabulary under the checkpoint's weights.
    checkpoint = str(next(out.glob("checkpoint-*")))
    more = ("--num_train_epochs", "2", "--max_vocab_size", "3")
    with pytest.raises(TextclsError, match="Changed: max_vocab_size: 20000 -> 3; num_train_epochs: 1.0 -> 2.0"):
        tiny_word_run(tmp_path, *more)
    tiny_word_run(tmp_path, *more, "--resume_from_checkpoint", checkpoint)
    saved = json.loads((out / "config.json").read_text())
    assert json.loads((out / "trainer_state.json").read_text())["epoch"] == 2.0
    assert saved["vocab_size"] == first_vocabulary > 3 + 2
    # the cleaning travels with the model, so whoever serves it can clean raw text the same way
    assert saved["text_cleaning"] == {
        "simple_preprocess": False,
        "remove_stopwords": True,
        "wordnet_filter": False,
        "stem": False,
        "stopwords": stopwords_record(),  # which list: it depends on the machine's NLTK data
    }
    # reports show the texts as they were given, not as the model read them
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions["text"].tolist() == pd.read_csv(tmp_path / "test.csv")["text"].tolist()
    assert predictions["text"].str.startswith("The ").all()


def test_resuming_checks_that_the_checkpoint_fits_this_run(tmp_path):
    tiny_word_run(tmp_path, "--num_train_epochs", "1")
    with pytest.raises(TextclsError, match='Changed: model_type: "glove" -> "lstm"'):  # the recorded settings
        tiny_word_run(tmp_path, "--num_train_epochs", "2", "--model_type", "lstm")
    checkpoint = next((tmp_path / "out").glob("checkpoint-*"))
    explicit = ("--resume_from_checkpoint", str(checkpoint))  # past the settings check: the checkpoint's own
    with pytest.raises(TextclsError, match="holds a textcls-glove model .* trains a textcls-lstm model"):
        tiny_word_run(tmp_path, "--num_train_epochs", "2", "--model_type", "lstm", *explicit)
    (checkpoint / "tokenizer.json").unlink()
    with pytest.raises(TextclsError, match="no tokenizer.json"):
        tiny_word_run(tmp_path, "--num_train_epochs", "2", *explicit)
