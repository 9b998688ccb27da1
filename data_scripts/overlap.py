"""Leaks between splits: validation and test texts that also occur in train, and texts labelled two ways.

Users' own files often share rows between train and test, which inflates every score; a text that carries two
labels caps the reachable accuracy. Texts are compared after whitespace normalisation (runs of spaces, tabs and
newlines become one space), exactly otherwise.

Each split is read once, in Arrow batches, into two fixed-width numpy columns: a 16-byte hash of each row's
normalised text and a code of its label (24 bytes a row, never the texts). Rows are grouped by sorting the hashes
(linear passes plus one sort, no Python object per row). A validation/test row found in train is then confirmed by
comparing its text with the matching training text, so a hash collision cannot count a row that is not there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict

from data_scripts.splits import table_positions, take_from_batches

logger = logging.getLogger(__name__)

# The metric prefix of each checked split, as the Trainer names its metrics.
CHECKED_SPLITS = {"validation": "eval", "test": "test"}
BATCH = 10_000
KEY = np.dtype("S16")  # a blake2b digest: compared and sorted as 16 raw bytes


def normalised(text: str) -> str:
    """The text as it is compared: runs of whitespace (Python's definition) become one space, the ends trimmed."""
    return " ".join(text.split())


def checked_columns(rows: Dataset) -> list[str]:
    """The columns that make a row's compared text: `text`, and `text_pair` for a sentence pair."""
    return ["text", *(["text_pair"] if "text_pair" in rows.column_names else [])]


def texts_of(batch: pa.Table | pa.RecordBatch) -> list[str]:
    """Each row's compared text: a sentence pair is one example, its two texts joined by a NUL character."""
    texts = batch.column("text").to_pylist()
    if "text_pair" in batch.schema.names:
        texts = [f"{a}\x00{b}" for a, b in zip(texts, batch.column("text_pair").to_pylist(), strict=True)]
    return texts


def text_batches(rows: Dataset) -> Iterator[tuple[list[str], pa.Array]]:
    """(texts, label column) of `BATCH` rows at a time, read through Arrow."""
    for batch in rows.select_columns([*checked_columns(rows), "label"]).with_format("arrow").iter(batch_size=BATCH):
        yield texts_of(batch), batch.column("label")


def columns_at(rows: Dataset, indices: np.ndarray) -> pa.Table:
    """The compared columns of the rows at `indices`, in that order, taken from the record batches they are in (a
    `select` and iteration would gather one Arrow slice per row behind the indices mapping)."""
    table = rows.data.table.select(checked_columns(rows))
    return take_from_batches(table, table_positions(rows, indices))


def identical(ours: pa.Table, theirs: pa.Table) -> np.ndarray:
    """Per row: are all its compared columns equal as stored (then they are equal normalised too)?"""
    same = [pc.equal(ours[name], theirs[name]).fill_null(False) for name in ours.column_names]
    return np.logical_and.reduce([column.to_numpy(zero_copy_only=False) for column in same])


class LabelCodes:
    """Each row's label as one float64, equal exactly when the labels are equal (float ==: a NaN equals nothing).
    Class ids and regression values are their own codes; a multi-label row's id list gets a number per distinct
    list (in the order seen)."""

    def __init__(self):
        self.lists: dict[tuple, int] = {}

    def __call__(self, labels: pa.Array) -> np.ndarray:
        if pa.types.is_list(labels.type) or pa.types.is_large_list(labels.type):
            return np.array(
                [self.lists.setdefault(tuple(ids), len(self.lists)) for ids in labels.to_pylist()], dtype=np.float64
            )
        return labels.to_numpy(zero_copy_only=False).astype(np.float64)


def hashed_rows(rows: Dataset, codes: LabelCodes) -> tuple[np.ndarray, np.ndarray]:
    """(16-byte hash of each row's normalised text, its label code), in row order."""
    keys, labels = [], []
    for texts, label_column in text_batches(rows):
        digests = b"".join(hashlib.blake2b(normalised(text).encode("utf-8"), digest_size=16).digest() for text in texts)
        keys.append(np.frombuffer(digests, dtype=KEY))
        labels.append(codes(label_column))
    if not keys:
        return np.empty(0, dtype=KEY), np.empty(0, dtype=np.float64)
    return np.concatenate(keys), np.concatenate(labels)


@dataclass
class Groups:
    """The distinct hashes of a split, sorted; per hash: one row holding it, its label (the smallest, when several)
    and whether the split gives it more than one label. `of_row` maps each row to its group."""

    keys: np.ndarray
    first_row: np.ndarray
    label: np.ndarray
    several: np.ndarray
    of_row: np.ndarray


def group_rows(keys: np.ndarray, labels: np.ndarray) -> Groups:
    if not len(keys):
        empty = np.empty(0, dtype=np.int64)
        return Groups(keys, empty, labels, np.empty(0, dtype=bool), empty)
    order = np.argsort(keys, kind="stable")
    sorted_keys, sorted_labels = keys[order], labels[order]
    starts_group = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    starts = np.flatnonzero(starts_group)
    smallest = np.minimum.reduceat(sorted_labels, starts)
    several = smallest != np.maximum.reduceat(sorted_labels, starts)  # a NaN label: never equal, as in Python
    of_row = np.empty(len(keys), dtype=np.int64)
    of_row[order] = np.cumsum(starts_group) - 1
    return Groups(sorted_keys[starts], order[starts], smallest, several, of_row)


def confirm_matches(split_rows: Dataset, train: Dataset, rows: np.ndarray, train_rows: np.ndarray) -> None:
    """Compare the normalised texts of split rows with the training rows whose hash they share; a difference (a
    hash collision, about 1 in 10^26 for a million rows) stops the run rather than count a row wrongly."""
    for start in range(0, len(rows), BATCH):
        batch_rows, batch_train_rows = rows[start : start + BATCH], train_rows[start : start + BATCH]
        ours, theirs = columns_at(split_rows, batch_rows), columns_at(train, batch_train_rows)
        differ = pa.array(np.flatnonzero(~identical(ours, theirs)), type=pa.int64())  # only these need normalising
        ours, theirs = texts_of(ours.take(differ)), texts_of(theirs.take(differ))
        for position, text, train_text in zip(differ.to_numpy(), ours, theirs, strict=True):
            row, train_row = batch_rows[position], batch_train_rows[position]
            if normalised(text) != normalised(train_text):
                raise RuntimeError(
                    f"overlap check: row {row} and training row {train_row} have the same 16-byte hash but "
                    "different texts; please report this (with the two texts) as a bug"
                )


def split_overlap(corpus: DatasetDict) -> dict[str, dict[str, int]]:
    """Per checked split's metric prefix: rows whose text is also in train, and rows whose text appears (in train or
    in the split itself) with another label."""
    if "train" not in corpus:
        return {}
    codes = LabelCodes()
    train = group_rows(*hashed_rows(corpus["train"], codes))
    counts = {}
    for split, prefix in CHECKED_SPLITS.items():
        if split not in corpus:
            continue
        keys, labels = hashed_rows(corpus[split], codes)
        own = group_rows(keys, labels)
        position = np.searchsorted(train.keys, keys)
        found = position < len(train.keys)
        found[found] = train.keys[position[found]] == keys[found]
        confirm_matches(corpus[split], corpus["train"], np.flatnonzero(found), train.first_row[position[found]])
        trained = position[found]
        other_label = own.several[own.of_row]
        other_label[found] |= train.several[trained] | (train.label[trained] != labels[found])
        in_train, conflicting = int(found.sum()), int(other_label.sum())
        counts[prefix] = {f"{prefix}_texts_in_train": in_train, f"{prefix}_texts_with_other_labels": conflicting}
        rows = len(corpus[split])
        report = logger.warning if in_train or conflicting else logger.info
        report(
            "%s: %d of %d texts (%.1f%%) also occur in train, %d occur with another label (whitespace normalised)",
            split,
            in_train,
            rows,
            100.0 * in_train / max(rows, 1),
            conflicting,
        )
    return counts
