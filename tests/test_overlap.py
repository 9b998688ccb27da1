"""Validation and test rows leaked from train, and texts labelled two ways, are counted, logged and saved."""

import json
import logging

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

import run_classification
from data_scripts.overlap import split_overlap
from tests.test_run_classification import config_for, write_splits


def split(texts, labels):
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    return Dataset.from_dict({"text": texts, "label": labels}, features=features)


def test_counts_after_whitespace_normalisation(caplog):
    corpus = DatasetDict(
        train=split(["red fox", "blue", "green  sea", "gold"], [0, 1, 0, 1]),
        validation=split(["nothing", "new"], [0, 1]),
        test=split(["red \t fox", "green\nsea", "twice", "blue", "twice", "Gold"], [0, 1, 0, 0, 1, 1]),
    )
    with caplog.at_level(logging.INFO):
        counts = split_overlap(corpus)
    assert counts["eval"] == {"eval_texts_in_train": 0, "eval_texts_with_other_labels": 0}
    # in train: red fox, green sea, blue ("Gold" differs in case); other labels: green sea (a in train), blue
    # (b in train), and both "twice" rows (a and b within test)
    assert counts["test"] == {"test_texts_in_train": 3, "test_texts_with_other_labels": 4}
    assert "test: 3 of 6 texts (50.0%) also occur in train, 4 occur with another label" in caplog.text


def test_a_run_saves_the_counts_in_all_results(tmp_path):
    csv_files = write_splits(tmp_path, 60, 15, 15)
    train, test = pd.read_csv(csv_files["train"]), pd.read_csv(csv_files["test"])
    leaked = train.iloc[:4].copy()
    leaked.loc[leaked.index[0], "topic"] = "sport" if leaked.iloc[0]["topic"] != "sport" else "food"
    pd.concat([test, leaked]).to_csv(csv_files["test"], index=False)
    config = config_for(
        tmp_path,
        None,
        csv_files,
        model_name_or_path=None,
        model_type="glove",
        word_vectors="random",
        num_train_epochs=1,
        embedding_projection=False,
    )
    run_classification.main([config])
    results = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert results["test_texts_in_train"] == 4 and results["test_texts_with_other_labels"] == 1
    assert results["eval_texts_in_train"] == 0 and results["eval_texts_with_other_labels"] == 0
