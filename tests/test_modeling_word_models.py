"""Both word-vector models end to end: built from texts and vectors, trained by the Trainer, saved, and loaded
with trust_remote_code where this project cannot be imported."""

import json
import logging
import os
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, pipeline

from modeling.word_models import build_word_model
from textcls_errors import TextclsError

SPACE = ["rocket", "orbit", "launch", "planet", "moon", "star", "comet", "shuttle"]
SPORT = ["goal", "match", "team", "score", "league", "player", "coach", "stadium"]
LABELS = ["space", "sport"]
# small, fast settings for each model
MODEL_KWARGS = {"glove": {"hidden_sizes": [8]}, "lstm": {"hidden_size": 8, "cell": "gru", "pooling": "mean"}}


def toy_corpus(rows: int, seed: int) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for row in range(rows):
        label = row % 2
        words = rng.choice(SPORT if label else SPACE, size=rng.integers(2, 7))
        texts.append("The " + " and ".join(words) + "!")
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory):
    """GloVe-format vectors for the toy words, "the" and "and", but not "stadium" or "coach"."""
    path = tmp_path_factory.mktemp("vectors") / "toy.8d.txt"
    rng = np.random.default_rng(0)
    words = [w for w in SPACE + SPORT + ["the", "and", "unused"] if w not in ("stadium", "coach")]
    path.write_text("".join(f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=8)) + "\n" for w in words))
    return path


@pytest.mark.parametrize("model_type", ["glove", "lstm"])
def test_build_with_pretrained_vectors(model_type, vectors_file, caplog):
    texts, _ = toy_corpus(40, seed=1)
    with caplog.at_level(logging.INFO, logger="modeling.word_models"):
        model, tokenizer = build_word_model(
            model_type, texts, LABELS, word_vectors=str(vectors_file), model_kwargs=MODEL_KWARGS[model_type]
        )
    vocab = tokenizer.get_vocab()
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1
    assert "stadium" not in vocab and "unused" not in vocab and {"the", "and", "rocket", "goal"} <= set(vocab)
    assert model.config.vocab_size == len(vocab) and model.config.embedding_dim == 8
    assert model.config.embedding_init == "pretrained" and model.config.id2label == {0: "space", 1: "sport"}
    vectors = {line.split()[0]: np.array(line.split()[1:], dtype=np.float32) for line in open(vectors_file)}
    weight = model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_allclose(weight[vocab["orbit"]], vectors["orbit"], rtol=1e-6)
    assert np.all(weight[0] == 0)
    message = caplog.text
    assert f"vocabulary of {len(vocab)} words" in message and "training tokens are in it" in message
    assert "trainable parameters" in message


def test_words_without_a_vector_join_the_vocabulary_from_oov_min_count_on(vectors_file, caplog):
    texts = ["the coach and the stadium", "the coach and the goal"]  # "coach" twice, "stadium" once: no vectors
    vocabularies = {}
    for oov_min_count in (0, 1, 2):
        with caplog.at_level(logging.INFO, logger="modeling.word_models"):
            model, tokenizer = build_word_model(
                "lstm", texts, LABELS, word_vectors=str(vectors_file), oov_min_count=oov_min_count
            )
        vocabularies[oov_min_count] = set(tokenizer.get_vocab())
        assert model.config.vocab_size == len(tokenizer)
    assert vocabularies[0] == {"[PAD]", "[UNK]", "the", "and", "goal"}
    assert vocabularies[1] == vocabularies[0] | {"coach", "stadium"}
    assert vocabularies[2] == vocabularies[0] | {"coach"}
    assert "and 1 without one seen at least 2 times, from random vectors" in caplog.text
    # learned from a small random start, not the [UNK] vector or zeros
    weight = model.get_input_embeddings().weight.detach()
    coach = weight[tokenizer.get_vocab()["coach"]]
    assert 0 < coach.norm() < weight[tokenizer.get_vocab()["goal"]].norm()
    assert model.get_input_embeddings().weight.requires_grad
    with pytest.raises(TextclsError, match="oov_min_count=-1"):
        build_word_model("lstm", texts, LABELS, word_vectors=str(vectors_file), oov_min_count=-1)


def test_build_with_random_vectors_and_bad_settings():
    texts, _ = toy_corpus(10, seed=2)
    model, tokenizer = build_word_model("lstm", texts, LABELS, word_vectors="random", model_kwargs={"embedding_dim": 6})
    assert model.config.embedding_init == "random" and model.config.embedding_dim == 6
    assert "stadium" in tokenizer.get_vocab() or "coach" in tokenizer.get_vocab()
    with pytest.raises(TextclsError, match="model_type must be one of 'glove', 'lstm'; got 'cnn'"):
        build_word_model("cnn", texts, LABELS)
    with pytest.raises(TextclsError, match="unknown setting.*hiden_size.*known: embedding_dim"):
        build_word_model("lstm", texts, LABELS, model_kwargs={"hiden_size": 3})
    with pytest.raises(TextclsError, match="invalid lstm model setting: cell must be one of"):
        build_word_model("lstm", texts, LABELS, model_kwargs={"cell": "transformer"})
    with pytest.raises(TextclsError, match="embedding_dim=7 does not match the 50 dimensions"):
        build_word_model("glove", texts, LABELS, word_vectors="glove.6B.50d", model_kwargs={"embedding_dim": 7})


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread; two threads on a busy two-core machine wait on each other in every
    one of the RNN's many small operations (seen: 100 times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("model_type", ["glove", "lstm"])
def test_a_few_trainer_steps_reduce_the_loss(model_type, vectors_file, tmp_path, one_thread):
    texts, labels = toy_corpus(64, seed=3)
    torch.manual_seed(0)
    model, tokenizer = build_word_model(
        model_type, texts, LABELS, word_vectors=str(vectors_file), model_kwargs=MODEL_KWARGS[model_type]
    )
    dataset = Dataset.from_dict({"text": texts, "label": labels})
    dataset = dataset.map(lambda batch: tokenizer(batch["text"]), batched=True, remove_columns=["text"])
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        max_steps=24,
        learning_rate=0.05,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < 0.5 * before, (before, after)


REMOTE_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.path.append(sys.argv[1])  # site-packages only: no .pth files, so no editable install of this project
    try:
        import modeling
    except ImportError:
        pass
    else:
        raise SystemExit(f"the project is importable from {modeling.__file__}")
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, pipeline

    expected = json.load(open(sys.argv[2]))
    results = {}
    for folder, case in expected.items():
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        with torch.no_grad():
            outputs = model(
                torch.tensor(case["input_ids"]),
                attention_mask=torch.tensor(case["attention_mask"]),
                output_hidden_states=True,
            )
        encoder = AutoModel.from_pretrained(folder, trust_remote_code=True)  # the bare encoder, no head
        with torch.no_grad():
            encoded = encoder(
                torch.tensor(case["input_ids"]),
                attention_mask=torch.tensor(case["attention_mask"]),
                output_hidden_states=True,
            )
        classify = pipeline("text-classification", model=folder, trust_remote_code=True)
        results[folder] = {
            "logits": outputs.logits.tolist(),
            "document": outputs.hidden_states[-1][:, 0].tolist(),
            "encoder_document": encoded.hidden_states[-1][:, 0].tolist(),
            "pipeline": classify(case["texts"]),
        }
    print(json.dumps(results))
    """
)


def test_saved_models_load_with_trust_remote_code_without_this_project(vectors_file, tmp_path):
    texts, _ = toy_corpus(20, seed=4)
    probe = ["The rocket and the moon", "goal and team and league", "nothing known here"]
    expected = {}
    for model_type in ("glove", "lstm"):
        torch.manual_seed(0)
        model, tokenizer = build_word_model(
            model_type, texts, LABELS, word_vectors=str(vectors_file), model_kwargs=MODEL_KWARGS[model_type]
        )
        folder = tmp_path / f"saved-{model_type}"
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        config = json.loads((folder / "config.json").read_text())
        assert config["auto_map"] == {
            "AutoConfig": f"configuration_{model_type}.{type(model.config).__name__}",
            "AutoModel": f"modeling_{model_type}.{type(model).__name__.replace('ForSequenceClassification', 'Model')}",
            "AutoModelForSequenceClassification": f"modeling_{model_type}.{type(model).__name__}",
        }
        batch = tokenizer(probe, padding=True, return_tensors="pt")
        model.eval()
        with torch.no_grad():
            outputs = model(**batch, output_hidden_states=True)
        local_pipeline = pipeline("text-classification", model=model, tokenizer=tokenizer)
        expected[str(folder)] = {
            "texts": probe,
            "input_ids": batch["input_ids"].tolist(),
            "attention_mask": batch["attention_mask"].tolist(),
            "logits": outputs.logits.tolist(),
            "document": outputs.hidden_states[-1][:, 0].tolist(),
            "pipeline": local_pipeline(probe),
        }
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    completed = subprocess.run(
        [sys.executable, "-S", "-c", REMOTE_CHECK, sysconfig.get_paths()["purelib"], str(tmp_path / "expected.json")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for folder, case in expected.items():
        remote = results[folder]
        # identical logits: same weights, same code, same inputs
        assert remote["logits"] == case["logits"]
        assert remote["document"] == case["document"]
        assert remote["encoder_document"] == case["document"]
        assert [r["label"] for r in remote["pipeline"]] == [r["label"] for r in case["pipeline"]]
        assert set(r["label"] for r in remote["pipeline"]) <= set(LABELS)
        np.testing.assert_allclose([r["score"] for r in remote["pipeline"]], [r["score"] for r in case["pipeline"]])


def test_training_texts_are_read_once_and_coverage_counts_every_token(vectors_file, caplog):
    """A corpus too large for memory comes as a stream: one pass builds the vocabulary and its coverage."""
    texts, _ = toy_corpus(40, seed=3)
    with caplog.at_level(logging.INFO, logger="modeling.word_models"):
        _, tokenizer = build_word_model(
            "glove", iter(texts), LABELS, word_vectors=str(vectors_file), model_kwargs=MODEL_KWARGS["glove"]
        )
    encodings = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    total = sum(len(encoding.ids) for encoding in encodings)
    unknown = sum(encoding.ids.count(tokenizer.unk_token_id) for encoding in encodings)
    assert 0 < unknown < total  # "stadium" and "coach" have no vector
    assert f"{100.0 * (total - unknown) / total:.1f}% of the {total} training tokens are in it" in caplog.text
