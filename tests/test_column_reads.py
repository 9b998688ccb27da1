"""Whole columns of a split are read through Arrow, never a datasets Column row by row (200 µs a row: minutes on a
million rows): the evaluation order and the label arrays that sampling and reports use."""

import numpy as np
import pytest
from datasets import Dataset
from datasets.arrow_dataset import Column

from data_scripts.splits import labels_of
from training.trainer import sort_by_length


@pytest.fixture
def no_row_reads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a Column was read row by row")

    monkeypatch.setattr(Column, "__iter__", refuse)
    monkeypatch.setattr(Column, "__getitem__", refuse)


def test_sorting_by_length_reads_the_column_at_once(no_row_reads):
    dataset = Dataset.from_dict({"length": [5, 2, 9, 2, 7], "label": [0, 1, 0, 1, 1]})
    ordered, order = sort_by_length(dataset)
    assert order.tolist() == [1, 3, 0, 4, 2]
    assert labels_of(ordered).tolist() == [1, 1, 0, 1, 0]
    np.testing.assert_array_equal(labels_of(dataset), [0, 1, 0, 1, 1])


@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification"])
def test_class_weights_read_the_training_labels_at_once(no_row_reads, problem_type):
    from types import SimpleNamespace

    from datasets import ClassLabel, DatasetDict, Features, Sequence, Value

    from run_classification import problem_settings

    labels = [0, 1, 1, 1] if problem_type.startswith("single") else [[0], [1], [0, 1], [1]]
    feature = ClassLabel(names=["a", "b"])
    feature = feature if problem_type.startswith("single") else Sequence(feature)
    train = Dataset.from_dict({"text": list("wxyz"), "label": labels}, Features(text=Value("string"), label=feature))
    arguments = SimpleNamespace(
        label_smoothing_factor=0.0, class_weights="balanced", best_metric_is_default=True, do_train=True
    )
    fields = problem_settings(problem_type, ["a", "b"], DatasetDict(train=train), arguments)
    expected = [2.0, 2 / 3] if problem_type.startswith("single") else [1.0, 1 / 3]  # n/(k*count); negatives/positives
    np.testing.assert_allclose(fields["class_weights"], expected)


def test_multi_label_counts_equal_the_multi_hot_sums(no_row_reads):
    from datasets import ClassLabel, Features, Sequence

    from data_scripts.labels import multi_hot
    from data_scripts.splits import label_counts

    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 5, size=rng.integers(0, 4)).tolist() for _ in range(257)]  # empty rows, repeated ids
    features = Features({"label": Sequence(ClassLabel(names=list("abcde")))})
    dataset = Dataset.from_dict({"label": rows}, features=features).shuffle(seed=0).select(range(3, 250))
    expected = multi_hot(dataset.with_format("arrow")["label"].to_pylist(), 5).sum(axis=0)
    counts = label_counts(dataset, 5, batch_size=16)  # batches, and an indices mapping, as after a split
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() > 0


def test_iterating_a_text_column_reads_arrow_batches(no_row_reads, monkeypatch):
    from data_scripts import splits
    from data_scripts.splits import TextColumn

    texts = [f"text {i}" for i in range(23)]
    dataset = Dataset.from_dict({"text": texts}).shuffle(seed=0)  # an indices mapping, as after a split
    monkeypatch.setattr(splits, "BATCH_ROWS", 5)
    assert list(TextColumn(dataset)) == dataset.with_format("arrow")["text"].to_pylist()


def test_labels_behind_an_indices_mapping_are_taken_in_one_go(monkeypatch):
    from datasets.table import Table

    def refuse(*args, **kwargs):
        raise AssertionError("the label column was gathered one row slice at a time")

    monkeypatch.setattr(Table, "fast_gather", refuse)
    dataset = Dataset.from_dict({"label": [3, 1, 4, 1, 5, 9, 2, 6]})
    picked = dataset.select([5, 0, 7, 2, 2]).shuffle(seed=0)  # an indices mapping, composed twice
    expected = [dataset.with_format("arrow")["label"].to_pylist()[i] for i in picked._indices.column(0).to_pylist()]
    assert labels_of(picked).tolist() == expected
    assert labels_of(dataset).tolist() == [3, 1, 4, 1, 5, 9, 2, 6]


def test_single_label_counts_are_the_class_counts(no_row_reads):
    from datasets import ClassLabel, Features

    from data_scripts.splits import label_counts

    labels = np.random.default_rng(1).integers(0, 4, size=301)
    dataset = Dataset.from_dict({"label": labels}, Features(label=ClassLabel(names=list("abcd")))).shuffle(seed=0)
    np.testing.assert_array_equal(label_counts(dataset, 4, batch_size=16), np.bincount(labels, minlength=4))


@pytest.mark.parametrize("class_weights", [None, "none", {"b": 2.0}])
def test_a_run_without_balanced_weights_does_not_read_the_training_labels(monkeypatch, class_weights):
    # On a million rows, a pass over the labels (and, multi-label, a rows x labels matrix) for nothing.
    from types import SimpleNamespace

    from datasets import ClassLabel, DatasetDict, Features, Value

    import run_classification

    def refuse(*args, **kwargs):
        raise AssertionError("the training labels were read")

    monkeypatch.setattr(run_classification, "label_counts", refuse)
    monkeypatch.setattr(run_classification, "labels_of", refuse)
    monkeypatch.setattr(Dataset, "with_format", refuse)
    train = Dataset.from_dict(
        {"text": list("wxyz"), "label": [0, 1, 1, 1]},
        Features(text=Value("string"), label=ClassLabel(names=["a", "b"])),
    )
    arguments = SimpleNamespace(
        label_smoothing_factor=0.0, class_weights=class_weights, best_metric_is_default=True, do_train=True
    )
    fields = run_classification.problem_settings(
        "single_label_classification", ["a", "b"], DatasetDict(train=train), arguments
    )
    assert fields["class_weights"] == (None if class_weights in (None, "none") else [1.0, 2.0])
