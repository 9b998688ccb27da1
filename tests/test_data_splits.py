"""Validation split and stratified sampling (data_scripts/splits.py), on small in-memory data."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from data_scripts import add_validation_split, limit_samples, stratified_sample
from data_scripts.splits import take_rows
from textcls_errors import TextclsError


def make_dataset(counts: dict[str, int]) -> Dataset:
    """Rows "<class> <i>" with the given number of rows per class, classes interleaved."""
    names = sorted(counts)
    rows = [(f"{name} {i}", names.index(name)) for name in names for i in range(counts[name])]
    rows.sort(key=lambda row: int(row[0].split()[1]))  # interleave the classes
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return Dataset.from_dict({"text": [t for t, _ in rows], "label": [y for _, y in rows]}, features=features)


def class_counts(dataset: Dataset) -> dict[int, int]:
    return dict(Counter(dataset["label"]))


def test_stratified_sample_keeps_class_proportions():
    data = make_dataset({"a": 600, "b": 300, "c": 100})
    sample = stratified_sample(data, 100, seed=0)
    assert class_counts(sample) == {0: 60, 1: 30, 2: 10}
    assert len(set(sample["text"])) == 100


def test_stratified_sample_is_seeded():
    data = make_dataset({"a": 60, "b": 40})
    assert stratified_sample(data, 10, seed=1)["text"] == stratified_sample(data, 10, seed=1)["text"]
    assert stratified_sample(data, 10, seed=1)["text"] != stratified_sample(data, 10, seed=2)["text"]


def test_sample_larger_than_split_keeps_everything():
    data = make_dataset({"a": 5, "b": 5})
    assert stratified_sample(data, 10, seed=0) is data
    assert stratified_sample(data, 1000, seed=0) is data


def test_sample_smaller_than_class_count_falls_back_to_random():
    data = make_dataset({"a": 10, "b": 10, "c": 10})
    sample = stratified_sample(data, 2, seed=0)
    assert len(sample) == 2
    assert sample["text"] == stratified_sample(data, 2, seed=0)["text"]


def test_validation_split_is_stratified_disjoint_and_deterministic():
    corpus = DatasetDict(train=make_dataset({"a": 500, "b": 300, "c": 200}))
    split = add_validation_split(corpus, 10.0, seed=42)
    assert len(split["train"]) == 900 and len(split["validation"]) == 100
    assert class_counts(split["validation"]) == {0: 50, 1: 30, 2: 20}
    assert class_counts(split["train"]) == {0: 450, 1: 270, 2: 180}
    assert not set(split["train"]["text"]) & set(split["validation"]["text"])
    again = add_validation_split(corpus, 10.0, seed=42)
    assert again["validation"]["text"] == split["validation"]["text"]
    other = add_validation_split(corpus, 10.0, seed=7)
    assert other["validation"]["text"] != split["validation"]["text"]


def test_validation_comes_from_train_never_from_test():
    train, test = make_dataset({"a": 50, "b": 50}), make_dataset({"a": 20, "b": 20})
    split = add_validation_split(DatasetDict(train=train, test=test), 20.0, seed=0)
    assert split["test"]["text"] == test["text"]
    assert set(split["validation"]["text"]) <= set(train["text"])
    assert list(split) == ["train", "validation", "test"]


def test_existing_validation_split_is_kept():
    corpus = DatasetDict(train=make_dataset({"a": 10, "b": 10}), validation=make_dataset({"a": 3, "b": 3}))
    assert add_validation_split(corpus, 10.0, seed=0)["validation"] is corpus["validation"]


def test_a_class_with_a_single_row_stays_in_train():
    corpus = DatasetDict(train=make_dataset({"a": 30, "b": 1}))
    split = add_validation_split(corpus, 10.0, seed=0)
    assert class_counts(split["validation"]) == {0: 4}
    assert class_counts(split["train"]) == {0: 26, 1: 1}


def test_shares_that_do_not_divide_evenly_still_sum_to_n():
    data = make_dataset({"a": 7, "b": 7, "c": 7})
    for n in range(3, 21):
        sample = stratified_sample(data, n, seed=n)
        assert len(sample) == n and max(class_counts(sample).values()) - min(class_counts(sample).values()) <= 1


def test_train_too_small_to_split_is_a_clear_error():
    corpus = DatasetDict(train=make_dataset({"a": 1}))
    with pytest.raises(TextclsError, match="train has 1 rows.*validation_file"):
        add_validation_split(corpus, 10.0, seed=0)


@pytest.mark.parametrize("percentage", [0, 100, -5, 150, "10"])
def test_validation_percentage_out_of_range(percentage):
    corpus = DatasetDict(train=make_dataset({"a": 10, "b": 10}))
    with pytest.raises(TextclsError, match=r"validation_split_percentage=.*between 0 and 100"):
        add_validation_split(corpus, percentage, seed=0)


def test_limit_samples_applies_each_limit_to_its_split():
    corpus = DatasetDict(
        train=make_dataset({"a": 50, "b": 50}),
        validation=make_dataset({"a": 20, "b": 20}),
        test=make_dataset({"a": 30, "b": 30}),
    )
    limited = limit_samples(corpus, max_train_samples=10, max_eval_samples=4, max_predict_samples=1000, seed=0)
    assert {split: len(rows) for split, rows in limited.items()} == {"train": 10, "validation": 4, "test": 60}
    assert class_counts(limited["train"]) == {0: 5, 1: 5}


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_max_samples_must_be_positive_integers(value):
    corpus = DatasetDict(train=make_dataset({"a": 5, "b": 5}))
    with pytest.raises(TextclsError, match=r"max_eval_samples=.*positive whole number"):
        limit_samples(corpus, max_eval_samples=value)


def on_disk(dataset: Dataset, folder) -> Dataset:
    """The same rows in an Arrow file of their own (as a corpus read from the user's files is)."""
    return dataset.map(lambda batch: batch, batched=True, cache_file_name=str(folder / "corpus.arrow"))


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_held_out_splits_hold_their_rows_not_an_indices_mapping(where, tmp_path):
    # Behind an indices mapping every later pass (overlap check, cleaning's map) gathered rows one slice at a time.
    data = make_dataset({"a": 300, "b": 200, "c": 100})
    data = on_disk(data, tmp_path) if where == "disk" else data
    split = add_validation_split(DatasetDict(train=data), 10.0, seed=3)
    held_out = [int(text.split()[1]) * 3 + "abc".index(text[0]) for text in split["validation"]["text"]]
    assert held_out == sorted(held_out)  # rows in corpus order, as select() kept them
    for name in ("train", "validation"):
        assert split[name]._indices is None
        assert bool(split[name].cache_files) == (where == "disk")
        assert split[name].features == data.features
    # The same rows as selecting the held-out indices and the rest: the split itself is unchanged.
    texts = data["text"]
    expected_validation = sorted(set(split["validation"]["text"]), key=texts.index)
    assert split["validation"]["text"] == expected_validation
    assert split["train"]["text"] == [text for text in texts if text not in set(expected_validation)]
    assert split["train"]["label"] == [
        label for text, label in zip(texts, data["label"], strict=True) if text not in set(expected_validation)
    ]


def test_a_second_split_of_the_same_rows_reuses_their_files(tmp_path):
    data = on_disk(make_dataset({"a": 60, "b": 40}), tmp_path)
    first = add_validation_split(DatasetDict(train=data), 10.0, seed=0)
    files = {path: path.stat().st_mtime_ns for path in tmp_path.glob("cache-rows-*.arrow")}
    assert {first[name].cache_files[0]["filename"] for name in first} == {str(path) for path in files}
    again = add_validation_split(DatasetDict(train=data), 10.0, seed=0)
    assert {path: path.stat().st_mtime_ns for path in tmp_path.glob("cache-rows-*.arrow")} == files
    assert [again[name]._fingerprint for name in again] == [first[name]._fingerprint for name in first]
    other = add_validation_split(DatasetDict(train=data), 10.0, seed=1)  # other rows: other files, other names
    assert other["train"]._fingerprint != first["train"]._fingerprint
    assert len(list(tmp_path.glob("cache-rows-*.arrow"))) == 4


def test_rows_taken_batch_by_batch_are_those_of_one_take_in_any_order():
    import numpy as np
    import pyarrow as pa

    from data_scripts.splits import take_from_batches

    table = pa.Table.from_batches(
        [pa.record_batch([pa.array(range(i, i + 7)), pa.array([f"t{x}" for x in range(i, i + 7)])], ["a", "b"])
         for i in range(0, 70, 7)]
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for positions in [np.arange(3, 60), np.sort(rng.choice(70, 25, replace=False)), rng.integers(0, 70, size=40)]:
        taken = take_from_batches(table, pa.array(positions, pa.uint64()))
        assert taken.to_pydict() == table.take(pa.array(positions)).to_pydict()


def test_taken_rows_keep_the_format_they_were_asked_in():
    rows = Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}).with_format("numpy", columns=["label"])
    taken = take_rows(rows, np.array([2, 0]))
    assert taken.format["type"] == "numpy" and taken.format["columns"] == ["label"]
    assert taken[:]["label"].tolist() == [0, 0]


def test_datasets_cleanup_removes_stale_row_copies_and_keeps_the_one_in_use(tmp_path):
    # A seed grid on a large corpus left a copy of train per seed; datasets' own cleanup now removes old ones.
    data = on_disk(make_dataset({"a": 60, "b": 40}), tmp_path)
    stale = add_validation_split(DatasetDict(train=data), 10.0, seed=0)
    stale_files = {Path(stale[name].cache_files[0]["filename"]) for name in stale}
    current = add_validation_split(DatasetDict(train=data), 10.0, seed=1)
    in_use = Path(current["train"].cache_files[0]["filename"])
    assert current["train"].cleanup_cache_files() >= len(stale_files)
    assert not any(path.exists() for path in stale_files)
    assert in_use.is_file() and (tmp_path / "corpus.arrow").is_file()  # the corpus's own file is not a cache file
    assert current["train"]["text"] == [text for text in data["text"] if text not in set(current["validation"]["text"])]


def test_a_row_copy_named_by_an_older_version_is_not_read(tmp_path):
    data = on_disk(make_dataset({"a": 60, "b": 40}), tmp_path)
    first = add_validation_split(DatasetDict(train=data), 10.0, seed=0)
    expected = {name: first[name]["text"] for name in first}
    copies = [Path(first[name].cache_files[0]["filename"]) for name in first]
    del first
    for path in copies:  # the same copies under the old name, unreadable, and none under the new one
        path.unlink()
        (tmp_path / path.name.removeprefix("cache-")).write_bytes(b"not an Arrow file")
    again = add_validation_split(DatasetDict(train=data), 10.0, seed=0)
    assert {name: again[name]["text"] for name in again} == expected
