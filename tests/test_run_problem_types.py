"""End to end for every model family x problem type: multi-label, regression, sentence pairs and class weights
through run_classification.py on tiny models and data made here (a few seconds per run)."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import run_classification
from modeling import problem_types
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError

TOPICS = {
    "space": "rocket orbit launch nasa moon shuttle astronaut",
    "sport": "goal match team score league coach season",
    "food": "recipe bake flour oven sugar butter dinner",
}
FAMILIES = ("glove", "lstm", "bert")


def make_rows(count: int, seed: int) -> list[dict]:
    """Documents mixing 0 to 2 topics: `topics` (the multi-label set), `score` (0-5, how much is about space)
    and `second` (a text of one topic, for pairs), `same` (pair regression: 5 when `second` shares a topic)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        topics = sorted(rng.choice(list(TOPICS), size=i % 3, replace=False).tolist())
        words = [word for topic in topics for word in rng.choice(TOPICS[topic].split(), size=4).tolist()]
        words += rng.choice(["the", "a", "of", "today"], size=3).tolist()
        space_share = sum(word in TOPICS["space"].split() for word in words) / len(words)
        other = list(TOPICS)[i % 3]
        second = " ".join(rng.choice(TOPICS[other].split(), size=4).tolist())
        rows.append(
            {
                "text": " ".join(rng.permutation(words).tolist()),
                "topics": topics,
                "score": round(5 * space_share, 3),
                "second": second,
                "same": 5.0 if other in topics else 0.0,
            }
        )
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    paths = {}
    for seed, (split, count) in enumerate((("train", 90), ("validation", 30), ("test", 24))):
        paths[split] = folder / f"{split}.jsonl"
        pd.DataFrame(make_rows(count, seed)).to_json(paths[split], orient="records", lines=True)
    return paths


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, data) -> Path:
    texts = [row["text"] + " " + row["second"] for row in make_rows(90, 0)]
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", texts)


def run(tmp_path: Path, family: str, data, bert_dir, **settings) -> dict:
    # the tiny BERT was saved with a 2-class head: each run gives it its own
    model = {"model_name_or_path": str(bert_dir), "ignore_mismatched_sizes": True}
    if family != "bert":
        model = {"model_type": family}
    if family != "bert":
        model.update(word_vectors="random", embedding_dim=16)
    if family == "lstm":
        model.update(hidden_size=16)
    config = {
        **model,
        "train_file": str(data["train"]),
        "validation_file": str(data["validation"]),
        "test_file": str(data["test"]),
        "output_dir": str(tmp_path / "out"),
        "max_seq_length": 32,
        "learning_rate": 1e-2 if family != "bert" else 5e-3,
        "per_device_train_batch_size": 16,
        "num_train_epochs": 3 if family != "lstm" else 2,
        "warmup_steps": 0,
        "logging_steps": 2,
        "report_to": "none",
        "embedding_projection": False,
        "seed": 5,
        **settings,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return run_classification.main([str(path)])


def saved_config(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "config.json").read_text())


def reload(tmp_path: Path):
    folder = tmp_path / "out"
    return AutoModelForSequenceClassification.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("family", FAMILIES)
def test_multi_label_thresholds_are_tuned_saved_and_reapplied(family, tmp_path, data, bert_dir):
    results = run(tmp_path, family, data, bert_dir, label_column="topics", threshold_strategy="per_label")
    assert math.isfinite(results["train_loss"]) and math.isfinite(results["eval_loss"])
    for key in ("jaccard", "micro_f1", "macro_f1", "weighted_f1", "subset_accuracy", "hamming_loss"):
        assert f"test_{key}" in results and f"eval_{key}" in results, key
    config = saved_config(tmp_path)
    assert config["problem_type"] == "multi_label_classification"
    assert list(config["id2label"].values()) == ["food", "space", "sport"]
    thresholds = config["decision_thresholds"]
    assert len(thresholds) == 3 and all(0 < value < 1 for value in thresholds)

    out = tmp_path / "out"
    predictions = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert list(predictions.columns) == ["text", "gold", "predicted", "prob_food", "prob_space", "prob_sport"]
    assert len(predictions) == 24
    assert (out / "confusion_matrix.png").is_file()
    report = json.loads((out / "classification_report.json").read_text())
    assert {"food", "space", "sport", "micro avg", "samples avg"} <= set(report)

    # The folder decides as the run did: its saved thresholds, applied to the reloaded model's outputs.
    model, tokenizer = reload(tmp_path)
    with torch.no_grad():
        logits = model(**tokenizer(predictions["text"].tolist(), padding=True, return_tensors="pt")).logits
    label_sets = problem_types.decision_names(model.config, problem_types.predict(model.config, logits))
    assert ["|".join(labels) for labels in label_sets] == predictions["predicted"].tolist()
    np.testing.assert_allclose(
        problem_types.output_scores(model.config, logits), predictions.filter(like="prob_").to_numpy(), atol=2e-5
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_regression_reports_correlations_and_a_scatter(family, tmp_path, data, bert_dir):
    results = run(tmp_path, family, data, bert_dir, label_column="score")
    assert math.isfinite(results["train_loss"])
    for key in ("mse", "rmse", "mae", "pearson", "spearman"):
        assert f"test_{key}" in results, key
    config = saved_config(tmp_path)
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "score"}
    out = tmp_path / "out"
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["text", "gold", "predicted"] and len(predictions) == 24
    np.testing.assert_allclose(predictions["gold"], [row["score"] for row in make_rows(24, 2)], rtol=1e-6)
    assert (out / "predictions_scatter.png").is_file() and not (out / "confusion_matrix.png").exists()
    state = json.loads((out / "trainer_state.json").read_text())
    spearman = [entry["eval_spearman"] for entry in state["log_history"] if "eval_spearman" in entry]
    assert state["best_metric"] == max(spearman)  # the best model is picked on Spearman


@pytest.mark.parametrize("family", FAMILIES)
def test_sentence_pairs_read_both_texts(family, tmp_path, data, bert_dir):
    settings = dict(text_pair_column="second", label_column="same", problem_type="regression")  # 0 or 5: whole
    results = run(tmp_path, family, data, bert_dir, **settings)
    assert math.isfinite(results["train_loss"]) and "test_spearman" in results
    assert saved_config(tmp_path)["text_pair"] is True
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert list(predictions.columns) == ["text", "text_pair", "gold", "predicted"]
    model, tokenizer = reload(tmp_path)
    encoded = tokenizer("rocket moon", "goal team")
    separator = tokenizer.sep_token_id
    assert separator is not None and separator in encoded["input_ids"]
    # the word models' [SEP] is a token of their own: id 2, with its own trained vector
    assert family == "bert" or (separator == 2 and encoded["input_ids"].index(2) == 2)


@pytest.mark.parametrize("family", FAMILIES)
def test_class_weights_reach_every_family(family, tmp_path, data, bert_dir):
    """Single-label from the first topic (or 'none'), weighted 'balanced': the weights are in config.json, and
    the eval loss is the weighted one."""
    rows = [dict(row, topic=(row["topics"] or ["none"])[0]) for row in make_rows(90, 0)]
    pd.DataFrame(rows).to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    train = {**data, "train": tmp_path / "train.jsonl", "validation": tmp_path / "train.jsonl"}
    settings = dict(label_column="topic", class_weights="balanced", do_predict=False, test_file=None)
    results = run(tmp_path, family, train, bert_dir, **settings)
    weights = saved_config(tmp_path)["class_weights"]
    counts = pd.Series([row["topic"] for row in rows]).value_counts()
    expected = [90 / (4 * counts[name]) for name in sorted(counts.index)]
    np.testing.assert_allclose(weights, expected)
    assert math.isfinite(results["eval_loss"])


def test_what_cannot_work_is_refused(tmp_path, data, bert_dir):
    with pytest.raises(TextclsError, match="regression run has no classes"):
        run(tmp_path, "glove", data, bert_dir, label_column="score", class_weights="balanced")
    with pytest.raises(TextclsError, match="smooths class targets"):
        run(tmp_path, "glove", data, bert_dir, label_column="score", label_smoothing_factor=0.1)
    with pytest.raises(TextclsError, match="'accuracy' is not a metric of a regression run"):
        run(tmp_path, "glove", data, bert_dir, label_column="score", metric_for_best_model="accuracy")
    with pytest.raises(TextclsError, match="turn it off for sentence pairs"):
        run(tmp_path, "glove", data, bert_dir, text_pair_column="second", label_column="score", remove_stopwords=True)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_multi_label_class_separation_colours_by_the_rarest_label(tmp_path, data, bert_dir, monkeypatch):
    from datasets.arrow_dataset import Column

    iterate, item = Column.__iter__, Column.__getitem__

    def refuse(read):  # whole training columns (vocabulary, label frequencies) are read through Arrow in batches
        def checked(column, *args):
            if len(column.source) >= 90:  # the training split; the separation sample (<= 30 rows) may read rows
                raise AssertionError(f"the training column {column.column_name!r} was read row by row")
            return read(column, *args)

        return checked

    monkeypatch.setattr(Column, "__iter__", refuse(iterate))
    monkeypatch.setattr(Column, "__getitem__", refuse(item))
    run(tmp_path, "glove", data, bert_dir, label_column="topics", embedding_projection=True, do_predict=False)
    record = json.loads((tmp_path / "out" / "embedding_separation.json").read_text())
    assert "rarest label" in record["groups"]
    assert math.isfinite(record["embedding_silhouette_after"])
    assert (tmp_path / "out" / "embeddings_tsne.png").is_file()
    # the after map circles the decisions the saved model makes: thresholds tuned before it is drawn
    assert record["decision_thresholds"] == saved_config(tmp_path)["decision_thresholds"]


def test_standalone_projection_of_a_multi_label_folder_groups_as_training_did(tmp_path, data, bert_dir):
    from training.project_embeddings import main as project_embeddings

    run(tmp_path, "glove", data, bert_dir, label_column="topics", embedding_projection=True, do_predict=False)
    trained = json.loads((tmp_path / "out" / "embedding_separation.json").read_text())
    projected = project_embeddings(["--model_dir", str(tmp_path / "out"), str(tmp_path / "config.json"), "--no_3d"])
    # the same 30 validation documents, grouped by their rarest label, embedded by the same saved model
    assert projected["groups"] == trained["groups"] and projected["documents"] == trained["documents"] == 30
    for name in ("silhouette", "knn_accuracy", "davies_bouldin"):
        assert projected[f"embedding_{name}"] == pytest.approx(trained[f"embedding_{name}_after"], abs=1e-5)
    assert 0 <= projected["accuracy"] <= 1
    assert (tmp_path / "out" / "projection_validation" / "embeddings_tsne.png").stat().st_size > 10_000


def test_standalone_projection_groups_by_the_label_frequencies_training_counted(tmp_path, data, bert_dir, caplog):
    """max_train_samples: training counts the frequencies on its 40 rows, not the 90 of the file; the projection
    reads them from the folder instead of counting the whole file again (whose rarest label differs)."""
    from training.project_embeddings import main as project_embeddings

    run(
        tmp_path,
        "glove",
        data,
        bert_dir,
        label_column="topics",
        embedding_projection=True,
        do_predict=False,
        max_train_samples=40,
    )
    trained = json.loads((tmp_path / "out" / "embedding_separation.json").read_text())
    assert sum(trained["label_frequency"].values()) < sum(len(row["topics"]) for row in make_rows(90, 0))
    arguments = ["--model_dir", str(tmp_path / "out"), str(tmp_path / "config.json"), "--no_3d"]
    projected = project_embeddings(arguments)
    assert projected["documents"] == trained["documents"] == 30
    for name in ("silhouette", "knn_accuracy", "davies_bouldin"):
        assert projected[f"embedding_{name}"] == pytest.approx(trained[f"embedding_{name}_after"], abs=1e-5)
    # a folder written before the frequencies were recorded: counted on the training file, and said so
    del trained["label_frequency"]
    (tmp_path / "out" / "embedding_separation.json").write_text(json.dumps(trained))
    with caplog.at_level("INFO", logger="training.project_embeddings"):
        project_embeddings([*arguments, "--projection_dir", str(tmp_path / "older")])
    assert "records no label frequencies" in caplog.text


def test_standalone_projection_of_a_regression_folder_says_it_has_no_classes(tmp_path, data, bert_dir):
    from training.project_embeddings import main as project_embeddings

    run(tmp_path, "glove", data, bert_dir, label_column="score", do_predict=False)
    with pytest.raises(TextclsError, match="class separation needs classes, and a regression model has none"):
        project_embeddings(["--model_dir", str(tmp_path / "out"), str(tmp_path / "config.json"), "--no_3d"])
