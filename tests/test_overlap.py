"""Validation and test rows leaked from train, and texts labelled two ways, are counted, logged and saved."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

import run_classification
from data_scripts import overlap
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


def reference_overlap(corpus) -> dict[str, dict[str, int]]:
    """The check as it was (before Arrow batches and numpy hashes), with the normalised texts themselves as keys:
    the definition the fast version must reproduce."""
    several = object()

    def rows(dataset):
        for row in dataset:
            text = row["text"] if "text_pair" not in row else f"{row['text']}\x00{row['text_pair']}"
            label = tuple(row["label"]) if isinstance(row["label"], list) else row["label"]
            yield " ".join(text.split()), label

    def index(dataset):
        found = {}
        for key, label in rows(dataset):
            if found.setdefault(key, label) != label:
                found[key] = several
        return found

    train, counts = index(corpus["train"]), {}
    for split, prefix in (("validation", "eval"), ("test", "test")):
        own, in_train, conflicting = index(corpus[split]), 0, 0
        for key, label in rows(corpus[split]):
            trained = train.get(key)
            in_train += trained is not None
            conflicting += own[key] is several or (trained is not None and (trained is several or trained != label))
        counts[prefix] = {f"{prefix}_texts_in_train": in_train, f"{prefix}_texts_with_other_labels": conflicting}
    return counts


def random_corpus(rng, problem: str, pairs: bool = False) -> DatasetDict:
    """Small splits drawn from few texts (duplicates within and across splits, whitespace variants, labels that
    disagree), for each kind of label."""
    words = ["red", "fox", "blue", "sea", "é", "gold"]
    spaces = [" ", "  ", "\t", "\n", "\u00a0", " \r\n "]
    pool = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(25)]

    def variant(text):  # the same text with other whitespace, sometimes at the ends
        return (
            rng.choice(["", " "])
            + "".join(word + str(rng.choice(spaces)) for word in text.split()).rstrip()
            + rng.choice(["", "\n"])
        )

    def label():
        if problem == "single":
            return int(rng.integers(0, 3))
        if problem == "multi":
            return sorted({int(i) for i in rng.integers(0, 3, size=rng.integers(0, 3))})
        return float(rng.choice([0.0, 0.5, 1.0, float("nan")]))

    feature = {
        "single": ClassLabel(names=["a", "b", "c"]),
        "multi": Sequence(ClassLabel(names=["a", "b", "c"])),
        "regression": Value("float64"),
    }[problem]
    splits = {}
    for name, size in (("train", 120), ("validation", 30), ("test", 40)):
        columns = {
            "text": [variant(str(rng.choice(pool))) for _ in range(size)],
            "label": [label() for _ in range(size)],
        }
        schema = {"text": Value("string"), "label": feature}
        if pairs:
            columns["text_pair"] = [str(rng.choice(["x", "y  z", "y z"])) for _ in range(size)]
            schema["text_pair"] = Value("string")
        splits[name] = Dataset.from_dict(columns, features=Features(schema))
    corpus = DatasetDict(splits)
    corpus["validation"] = corpus["validation"].shuffle(seed=1)  # read through an indices mapping, as after a split
    return corpus


@pytest.mark.parametrize(
    ("problem", "pairs"), [("single", False), ("multi", False), ("regression", False), ("single", True)]
)
def test_same_counts_as_the_text_keyed_definition(problem, pairs):
    rng = np.random.default_rng(0)
    for _ in range(3):
        corpus = random_corpus(rng, problem, pairs)
        counts = split_overlap(corpus)
        assert counts == reference_overlap(corpus)
        assert counts["test"]["test_texts_in_train"] > 0 and counts["test"]["test_texts_with_other_labels"] > 0


def test_a_hash_collision_stops_rather_than_counts(monkeypatch):
    """Two different texts with one hash must not be counted as one: the match is confirmed on the texts."""

    class SameDigest:
        def __init__(self, data, digest_size):
            self.digest_size = digest_size

        def digest(self):
            return b"\x01" * self.digest_size

    monkeypatch.setattr(overlap.hashlib, "blake2b", SameDigest)
    corpus = DatasetDict(train=split(["red fox"], [0]), validation=split(["blue"], [0]), test=split(["sea"], [1]))
    with pytest.raises(RuntimeError, match="same 16-byte hash but different texts"):
        split_overlap(corpus)


def stored(corpus: DatasetDict, where: str, mapped: bool, folder) -> DatasetDict:
    """The corpus in memory or in Arrow files of small record batches, with or without an indices mapping on every
    split (as after a shuffle or select)."""
    splits = {}
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in corpus.items():
        rows = rows.flatten_indices()
        if where == "disk":
            file = str(folder / f"{name}.arrow")
            rows = rows.map(lambda batch: batch, batched=True, writer_batch_size=7, cache_file_name=file)
        splits[name] = rows.shuffle(seed=2) if mapped else rows
    return DatasetDict(splits)


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_matches_are_confirmed_on_the_texts_the_old_way_read(where, mapped, tmp_path):
    rng = np.random.default_rng(1)
    for problem, pairs in (("single", False), ("multi", True)):
        corpus = stored(random_corpus(rng, problem, pairs), where, mapped, tmp_path / problem)
        assert bool(corpus["train"].cache_files) == (where == "disk")
        assert (corpus["train"]._indices is not None) == mapped
        assert split_overlap(corpus) == reference_overlap(corpus)
        for rows in corpus.values():  # in any order, with repeats, as training rows are asked for
            indices = rng.integers(0, len(rows), size=25)
            old = [text for texts, _ in overlap.text_batches(rows.select(indices)) for text in texts]
            assert overlap.texts_of(overlap.columns_at(rows, indices)) == old


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_a_collision_stops_the_run_wherever_the_rows_are(where, mapped, tmp_path, monkeypatch):
    corpus = DatasetDict(train=split(["red fox", "sea", "blue"], [0, 1, 0]), validation=split(["blue", "sky"], [0, 0]))
    corpus = stored(corpus, where, mapped, tmp_path)
    monkeypatch.setattr(overlap.hashlib, "blake2b", lambda data, digest_size: FirstWordDigest(data, digest_size))
    with pytest.raises(RuntimeError, match="same 16-byte hash but different texts"):
        split_overlap(corpus)  # "sky" shares the hash of "sea", which is in train


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_a_collision_of_pairs_differing_in_the_second_text_stops_the_run(where, mapped, tmp_path, monkeypatch):
    """A pair is compared on both texts: the same `text` with another `text_pair` is not the same example."""
    features = Features({"text": Value("string"), "text_pair": Value("string"), "label": ClassLabel(names=["a", "b"])})

    def pairs(texts, second_texts):
        return Dataset.from_dict({"text": texts, "text_pair": second_texts, "label": [0] * len(texts)}, features)

    corpus = DatasetDict(train=pairs(["red fox", "sky"], ["run", "blue"]), validation=pairs(["sky"], ["grey"]))
    corpus = stored(corpus, where, mapped, tmp_path)
    monkeypatch.setattr(overlap.hashlib, "blake2b", lambda data, digest_size: FirstWordDigest(data, digest_size))
    with pytest.raises(RuntimeError, match="same 16-byte hash but different texts"):
        split_overlap(corpus)  # ("sky", "grey") shares the hash of ("sky", "blue"), which is in train


class FirstWordDigest:
    """A hash of the first letter only: texts starting alike collide."""

    def __init__(self, data: bytes, digest_size: int):
        self.data, self.digest_size = data, digest_size

    def digest(self) -> bytes:
        return self.data[:1].ljust(self.digest_size, b"\0")


def test_confirmation_reads_texts_without_gathering_rows_one_by_one(monkeypatch):
    """`select` then iteration gathers one Arrow slice per row behind the mapping (5 s of 30 at a million rows)."""
    rng = np.random.default_rng(2)
    corpus = random_corpus(rng, "single")

    def refuse(*args, **kwargs):
        raise AssertionError("confirm_matches gathered its rows with Dataset.select")

    monkeypatch.setattr(Dataset, "select", refuse)
    assert split_overlap(corpus) == reference_overlap(corpus)
