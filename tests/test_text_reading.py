"""A saved folder is read as it was trained: a run that only evaluates it cleans and cuts text by its config.json
record (explicit flags win, with a warning) and rewrites no record; the stop-word list is recorded and checked."""

import json
import logging
import shutil

import pandas as pd
import pytest

import run_classification
from inference import TextClassifier
from tests.test_run_classification import config_for, write_splits
from textcls_errors import TextclsError

READING = {"simple_preprocess": True, "remove_stopwords": True, "stem": True}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A GloVe model trained on cleaned text cut to its last 16 tokens, and its results."""
    root = tmp_path_factory.mktemp("reading")
    csv_files = write_splits(root, 120, 30, 30)
    config = config_for(
        root,
        None,
        csv_files,
        model_name_or_path=None,
        model_type="glove",
        word_vectors="random",
        max_seq_length=16,
        truncation_side="tail",
        num_train_epochs=2,
        embedding_projection=False,
        **READING,
    )
    return root / "out", csv_files, run_classification.main([config])


def evaluate(model_dir, csv_files, output_dir, *flags):
    """The command a user types to evaluate a saved folder again, without repeating how it read text."""
    return run_classification.main(
        ["--model_name_or_path", str(model_dir), "--do_train", "false", "--output_dir", str(output_dir)]
        + [f"--{split}_file={path}" for split, path in csv_files.items()]
        + ["--text_columns", "headline", "body", "--label_column", "topic", "--report_to", "none"]
        + ["--embedding_projection", "false", *flags]
    )


def test_the_record_names_the_stop_word_list(trained):
    out, _, _ = trained
    record = json.loads((out / "config.json").read_text())["text_cleaning"]
    assert {key: record[key] for key in READING} == READING
    assert record["stopwords"]["source"] in ("nltk", "scikit-learn")
    assert record["stopwords"]["count"] > 100 and len(record["stopwords"]["sha256"]) == 64


def test_evaluate_only_reads_text_as_the_folder_records(trained, tmp_path, caplog):
    out, csv_files, results = trained
    config_before = (out / "config.json").read_bytes()
    with caplog.at_level(logging.INFO):
        again = evaluate(out, csv_files, out)  # into the trained folder itself
    assert "with the text reading it was trained with" in caplog.text
    for name in ("eval_accuracy", "eval_macro_f1", "test_accuracy"):
        assert again[name] == results[name], name
    assert again["eval_loss"] == pytest.approx(results["eval_loss"], abs=1e-6)
    assert (out / "config.json").read_bytes() == config_before  # the record it did not train is not rewritten


def test_evaluate_only_into_a_trained_folder_writes_into_its_evaluation_subfolder(trained, tmp_path, caplog):
    """The folder's card, results, predictions and reports all describe the training run that made its model; an
    evaluation of it (here on another test file) goes to <folder>/evaluation/, never merged into them."""
    out, csv_files, _ = trained
    folder = shutil.copytree(out, tmp_path / "trained")  # a copy: other tests evaluate the module's folder too
    shutil.rmtree(folder / "evaluation", ignore_errors=True)
    kept = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    assert {"README.md", "all_results.json", "predictions.csv", "training_curves.png"} <= set(kept)
    other_test = tmp_path / "other_test.csv"
    pd.read_csv(csv_files["test"]).head(7).to_csv(other_test, index=False)
    with caplog.at_level(logging.INFO):
        results = evaluate(folder, {**csv_files, "test": other_test}, folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == kept
    evaluation = folder / "evaluation"
    assert f"{folder} holds a saved model" in caplog.text and str(evaluation) in caplog.text
    assert json.loads((evaluation / "all_results.json").read_text()) == results
    assert results["test_samples"] == 7 and len(pd.read_csv(evaluation / "predictions.csv")) == 7
    assert not (evaluation / "training_curves.png").exists()  # nothing was trained: no curves to draw
    card = (evaluation / "README.md").read_text()
    assert f"{results['test_accuracy']:.4f}" in card  # its own card, with its own numbers
    evaluate(folder, csv_files, tmp_path / "elsewhere")  # another output_dir is written as given
    assert (tmp_path / "elsewhere" / "all_results.json").is_file() and (tmp_path / "elsewhere" / "README.md").is_file()


def test_an_explicit_flag_overrides_the_record_with_a_warning(trained, tmp_path, caplog):
    out, csv_files, results = trained
    with caplog.at_level(logging.WARNING):
        shorter = evaluate(out, csv_files, tmp_path / "short", "--max_seq_length", "8")
    assert "was trained with max_seq_length=16, but this run sets max_seq_length=8" in caplog.text
    assert shorter["eval_loss"] != pytest.approx(results["eval_loss"], abs=1e-6)  # the flag was used


def test_another_stop_word_list_is_refused(trained, tmp_path):
    out, csv_files, _ = trained
    copy = shutil.copytree(out, tmp_path / "copy")
    config = json.loads((copy / "config.json").read_text())
    config["text_cleaning"]["stopwords"].update(source="nltk", count=179, sha256="0" * 64)
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextclsError, match=r"trained with the nltk stop-word list \(179 words\)"):
        TextClassifier(copy, device="cpu")
    with pytest.raises(TextclsError, match="stop-word list"):
        evaluate(copy, csv_files, tmp_path / "eval")
