"""Local files are read in chunks and their texts streamed to an Arrow file on disk (memory flat with the row count):
the rows, their order and every error's row numbers are those of reading the file whole, and an edited file is
never served from the cache of the old one."""

import json
import os

import pytest

import data_scripts.local_files as local_files
from data_scripts import load_corpus
from data_scripts.local_files import load_local_files
from textcls_errors import TextclsError

ROWS = [(f"text {i}, with a comma", ["a", "b", "c"][i % 3]) for i in range(11)]


def write(path, rows) -> str:
    path.write_text("text,label\n" + "".join(f'"{text}",{label}\n' for text, label in rows))
    return str(path)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(local_files, "CHUNK_ROWS", 2)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_chunks_give_the_rows_of_a_whole_read(tmp_path, small_chunks, suffix):
    path = tmp_path / f"train.{suffix}"
    if suffix == "csv":
        write(path, ROWS)
    else:
        path.write_text("".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in ROWS))
    split = load_local_files(str(path), test_file=str(path))["test"]
    assert split["text"] == [text for text, _ in ROWS]
    assert split["label"] == [i % 3 for i in range(11)]
    assert split.features["label"].names == ["a", "b", "c"]
    assert split.cache_files  # memory-mapped from disk, not held in memory


def test_row_numbers_count_across_chunks(tmp_path, small_chunks):
    path = tmp_path / "train.csv"
    path.write_text("text,label\na,x\n,y\nb,x\nc,y\n  ,x\nd,y\n")
    with pytest.raises(TextclsError, match=r"rows 2, 5 \(1-based data rows"):
        load_corpus(None, train_file=str(path))
    path.write_text("text,label\na,x\nb,y\nc,x\nd,y,z\ne,x\nf,y,z\n")  # too many fields (errors before empty texts)
    with pytest.raises(TextclsError, match=r"rows 4, 6 \(1-based data rows.*more fields than the 2"):
        load_corpus(None, train_file=str(path))
    path.write_text("words,label\na,x\nb,y\nc,x\n,y\n")
    with pytest.raises(TextclsError, match=r"no column\(s\) \['text'\]; its columns are \['words', 'label'\]"):
        load_corpus(None, train_file=str(path))


def test_an_edited_file_is_read_again_and_an_unchanged_one_keeps_its_fingerprint(tmp_path, small_chunks):
    path = write(tmp_path / "train.csv", ROWS)
    stamp = (tmp_path / "train.csv").stat().st_mtime_ns
    cache = tmp_path / "cache"
    first = load_local_files(path, cache_dir=str(cache))["train"]
    written = {file: file.stat().st_mtime_ns for file in cache.rglob("*")}
    again = load_local_files(path, cache_dir=str(cache))["train"]
    assert again._fingerprint == first._fingerprint  # later maps find their caches
    assert {file: file.stat().st_mtime_ns for file in cache.rglob("*")} == written  # read, not written again
    write(tmp_path / "train.csv", [("changed", "a"), *ROWS[1:]])
    edited = load_local_files(path, cache_dir=str(cache))["train"]
    assert edited._fingerprint != first._fingerprint
    assert edited["text"][0] == "changed"
    # The first file's size and timestamp (timestamps are coarse on some file systems), another text and label.
    write(tmp_path / "train.csv", [(ROWS[0][0].upper(), "b"), *ROWS[1:]])
    os.utime(tmp_path / "train.csv", ns=(stamp, stamp))
    changed = load_local_files(path, cache_dir=str(cache))["train"]
    assert changed._fingerprint != first._fingerprint
    assert changed["text"][0] == ROWS[0][0].upper() and changed["label"][0] == 1


def test_an_edit_in_the_middle_of_a_large_file_with_its_size_and_timestamp_kept_is_read_again(tmp_path):
    # The labels are read from the file on every run: texts served from a stale cache would be paired with them.
    rows = [(f"row {i:06d} of a file larger than a few blocks", "a") for i in range(20_000)]
    path = write(tmp_path / "train.csv", rows)
    stamp = (tmp_path / "train.csv").stat().st_mtime_ns
    cache = tmp_path / "cache"
    first = load_local_files(path, cache_dir=str(cache))["train"]
    middle = len(rows) // 2
    rows[middle] = (rows[middle][0].replace("row", "ROW"), "a")  # same length, far from both ends
    write(tmp_path / "train.csv", rows)
    os.utime(tmp_path / "train.csv", ns=(stamp, stamp))
    edited = load_local_files(path, cache_dir=str(cache))["train"]
    assert edited._fingerprint != first._fingerprint
    assert edited["text"][middle].startswith("ROW")


def test_the_same_test_file_with_other_class_ids_gets_another_fingerprint(tmp_path):
    # The test file's texts (and its text file in the cache) are the same; its label ids follow train's classes. The
    # label column's part of the fingerprint is a hash of its Arrow buffers (datasets would pickle the whole list).
    test = write(tmp_path / "test.csv", [("x", "a"), ("y", "b")])
    ids, fingerprints = [], []
    for name, classes in (("one", "ab"), ("two", "ab"), ("three", "Aab")):
        train = write(tmp_path / f"{name}.csv", [(f"text {c}", c) for c in classes])
        split = load_local_files(train, test_file=test, cache_dir=str(tmp_path / "cache"))["test"]
        ids.append(split["label"])
        fingerprints.append(split._fingerprint)
    assert ids == [[0, 1], [0, 1], [1, 2]]
    assert fingerprints[0] == fingerprints[1] != fingerprints[2]
