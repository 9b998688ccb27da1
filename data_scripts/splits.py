"""Validation split and stratified sampling, shared by every corpus.

The validation split always comes from train (never from test, which must stay unseen), and every
sample of a single-label corpus keeps the class proportions of its split, so a quick run on 500 documents still
sees every class about as often as the full run does. Multi-label and regression corpora are sampled at random
(seeded): a row there has several classes or none.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import ClassLabel, Dataset, DatasetDict
from datasets.fingerprint import Hasher
from datasets.table import InMemoryTable, MemoryMappedTable

from data_scripts.mapped_pages import release_if_grown
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

# Which max_* argument limits which split.
SAMPLE_LIMITS = {
    "train": "max_train_samples",
    "validation": "max_eval_samples",
    "test": "max_predict_samples",
}
BATCH_ROWS = 10_000  # rows read at a time when a whole column is streamed through Arrow
# Held-out copies of rows (`take_rows`): datasets' cleanup_cache_files() removes the `cache-*.arrow` files not in use.
COPY_PREFIX = "cache-rows-"


def check_percentage(value: float, name: str = "validation_split_percentage") -> None:
    """Refuse a held-out share that would leave train or the held-out split empty."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 100:
        split = "validation" if name.startswith("validation") else "test"
        raise TextclsError(
            f"{name}={value!r}: expected a number strictly between 0 and 100 "
            f"(the percent of train held out for {split} when the corpus has no {split} split), "
            "e.g. 10."
        )


def check_max_samples(name: str, value: int | None) -> None:
    """Refuse a max_*_samples that is not a positive whole number (None means all rows)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TextclsError(
            f"{name}={value!r}: expected a positive whole number of documents, or leave it unset to use "
            "the whole split."
        )


def labels_of(dataset: Dataset) -> np.ndarray:
    """The label column as an array, read through Arrow (iterating a datasets Column is row by row): one value per
    row, or a (rows, K) matrix when every row holds K values (the multi-hot targets of a multi-label run)."""
    column = dataset.data.column("label")
    if dataset._indices is not None:  # rows behind an indices mapping (a select or split): one take, in Arrow
        # (datasets would gather them as one slice per row: 900,000 slices held 270 MiB of C heap at 1M rows)
        column = column.take(dataset._indices.column(0))
    column = column.combine_chunks()
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        return column.to_numpy(zero_copy_only=False)
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths == lengths[0]).all():
        return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
    return np.asarray(column.to_pylist(), dtype=object)  # label sets of different sizes


def label_counts(dataset: Dataset, num_labels: int, batch_size: int = BATCH_ROWS) -> np.ndarray:
    """How many rows of a split carry each class (single-label), or each label (multi-label; a label listed twice in
    a row counts once: the column sums of its multi-hot matrix), read through Arrow a batch at a time instead of as
    one Python list (of lists)."""
    counts = np.zeros(num_labels, dtype=np.int64)
    for batch in dataset.select_columns(["label"]).with_format("arrow").iter(batch_size=batch_size):
        column = batch.column("label").combine_chunks()
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
            counts += np.bincount(column.to_numpy(zero_copy_only=False).astype(np.int64), minlength=num_labels)
            continue
        rows = pc.list_parent_indices(column).to_numpy(zero_copy_only=False).astype(np.int64)
        ids = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        counts += np.bincount(np.unique(rows * num_labels + ids) % num_labels, minlength=num_labels)
    return counts


class TextColumn(Sequence):
    """A text column of a Dataset that reads slices through Arrow (a datasets Column reads row by row): what a writer
    needs to go through a large split chunk by chunk without holding all its texts."""

    def __init__(self, dataset: Dataset, name: str = "text"):
        self.dataset, self.name = dataset, name

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            rows = self.dataset.with_format("arrow")[start:stop].column(self.name).to_pylist()
            return rows[::step]
        return self[range(len(self))[index] : range(len(self))[index] + 1][0]

    def __iter__(self) -> Iterator[str]:
        """Every text in order, read `BATCH_ROWS` at a time (iterating a datasets Column reads row by row, ten times
        slower)."""
        for batch in self.dataset.select_columns([self.name]).with_format("arrow").iter(batch_size=BATCH_ROWS):
            yield from batch.column(self.name).to_pylist()


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of `n` rows, each class taking its share of `n` (largest remainders), seeded.

    Done here rather than with `Dataset.train_test_split(stratify_by_column=...)`, which reads the
    labels one row at a time (4 s for 120,000 rows with datasets 5.2) and refuses a class with one row.
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * n / len(labels)
    take = np.floor(quotas).astype(int)
    # The rows still missing go to the classes with the largest remainders, ties broken at random.
    order = np.lexsort((rng.random(len(classes)), take - quotas))
    take[order[: n - take.sum()]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:k] for label, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(chosen))


def sample_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Stratified when every class can have a row, else a seeded random sample (sorted indices)."""
    if n >= len(np.unique(labels)):
        return stratified_indices(labels, n, seed)
    # Fewer rows than classes: proportions cannot be kept, and favouring the largest classes would
    # bias a smoke test, so take a plain random sample rather than refuse the run.
    logger.warning("sample of %d rows is random, not stratified: there are more classes than rows", n)
    return np.sort(np.random.default_rng(seed).choice(len(labels), size=n, replace=False))


def sample_rows(dataset: Dataset, n: int, seed: int) -> np.ndarray:
    """Sorted indices of `n` rows: stratified by class for a single-label dataset, else seeded random."""
    if isinstance(dataset.features["label"], ClassLabel):
        return sample_indices(labels_of(dataset), n, seed)
    return np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))


def add_validation_split(corpus: DatasetDict, validation_split_percentage: float, seed: int) -> DatasetDict:
    """Keep the corpus's own validation split, or hold out a seeded share of train (stratified when single-label)."""
    return add_held_out_split(corpus, "validation", validation_split_percentage, seed)


def add_held_out_split(corpus: DatasetDict, split: str, percentage: float, seed: int) -> DatasetDict:
    """Keep the corpus's own `split`, or hold out `percentage` of train as it, seeded (stratified when
    single-label). The splits come out in the order train, validation, test."""
    if split in corpus:
        return corpus
    name = f"{split}_split_percentage"
    check_percentage(percentage, name)
    train = corpus["train"]
    n_held_out = math.ceil(len(train) * percentage / 100)
    if n_held_out >= len(train):
        raise TextclsError(
            f"train has {len(train)} rows, too few to hold out {name}={percentage}% for {split}: add training "
            f"rows, lower the percentage, or give a {split}_file."
        )
    held_out = sample_rows(train, n_held_out, seed)
    kept = np.setdiff1d(np.arange(len(train)), held_out, assume_unique=True)
    parts = {**corpus, "train": take_rows(train, kept), split: take_rows(train, held_out)}
    return DatasetDict({name: parts[name] for name in ("train", "validation", "test") if name in parts})


def take_rows(dataset: Dataset, indices: np.ndarray) -> Dataset:
    """The rows at `indices`, in that order, as a dataset of their own rows rather than an indices mapping.

    Every later pass over a split (the overlap check, cleaning's map, the vocabulary) reads it; behind a mapping
    (`Dataset.select`) datasets gathers its rows as one Arrow slice per row: a datasets.map over 90,000 mapped rows
    took 9.6 s against 0.6 s over the same rows stored in order. The rows are copied once here with Arrow `take`s,
    `BATCH_ROWS` at a time: into an Arrow file next to the dataset's own (named by its fingerprint and the indices,
    so a second run reuses it) when the dataset is on disk, in memory when it is in memory. The file is named
    `cache-rows-*.arrow` so that datasets' `Dataset.cleanup_cache_files()` removes copies no longer in use (it removes
    the folder's `cache-*.arrow` files other than the dataset's own); `rows-*.arrow` copies of older versions are
    not read."""
    fingerprint = Hasher.hash((dataset._fingerprint, "take_rows", np.asarray(indices, dtype=np.int64)))
    positions = table_positions(dataset, indices)
    table = dataset.data.table
    if not dataset.cache_files:
        rows = InMemoryTable(table.take(positions))
    else:
        path = Path(dataset.cache_files[0]["filename"]).parent / f"{COPY_PREFIX}{fingerprint}.arrow"
        if not path.is_file():
            write_rows(table, positions, path)
        rows = MemoryMappedTable.from_file(str(path))
    taken = Dataset(rows, info=dataset.info, split=dataset.split, fingerprint=fingerprint)
    shown = dataset.format  # as `select` would: the rows come back in the format they were asked in
    if shown["type"] is None and shown["columns"] == dataset.column_names:
        return taken
    columns = shown["columns"]
    return taken.with_format(shown["type"], columns, shown["output_all_columns"], **shown["format_kwargs"])


def table_positions(dataset: Dataset, indices: np.ndarray) -> pa.Array:
    """Where the dataset's rows at `indices` are in its Arrow table: through its indices mapping when it has one (a
    select, shuffle or split), else the indices themselves."""
    positions = pa.array(indices, type=pa.uint64())
    if dataset._indices is not None:
        positions = dataset._indices.column(0).take(positions)
    return positions


def write_rows(table: pa.Table, positions: pa.Array, path: Path) -> None:
    """table.take(positions) streamed into an Arrow file, `BATCH_ROWS` rows at a time; written under another name
    and renamed, so that another process of the run never reads it half written."""
    handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".arrow.partial")
    try:
        with os.fdopen(handle, "wb") as file, pa.ipc.new_stream(file, table.schema) as writer:
            for start in range(0, len(positions), BATCH_ROWS):
                writer.write_table(take_from_batches(table, positions.slice(start, BATCH_ROWS)))
                pa.default_memory_pool().release_unused()  # Arrow's allocator (mimalloc) keeps freed batches
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise


def take_from_batches(table: pa.Table, positions: pa.Array) -> pa.Table:
    """table.take(positions), taken from each record batch the positions fall in: Arrow's take on a chunked column
    first joins all its chunks into one array (the whole text column of a corpus, 1.2 GB at a million rows)."""
    batches = table.to_batches()  # zero-copy: the file's own record batches
    starts = np.cumsum([0] + [len(batch) for batch in batches])
    wanted = positions.to_numpy(zero_copy_only=False).astype(np.int64)
    owner = np.searchsorted(starts, wanted, side="right") - 1
    order = np.argsort(owner, kind="stable")  # grouped by batch, each group in the order asked
    grouped_owner, grouped_rows = owner[order], wanted[order]
    group_starts = np.flatnonzero(np.diff(grouped_owner)) + 1  # one pass: no scan of all positions per batch
    pieces = []
    for rows in np.split(np.arange(len(order)), group_starts):
        batch = grouped_owner[rows[0]]
        pieces.append(batches[batch].take(pa.array(grouped_rows[rows] - starts[batch])))
        release_if_grown(table)  # scattered reads map whole files fast (see the function)
    taken = pa.Table.from_batches(pieces, schema=table.schema).combine_chunks()
    if (order == np.arange(len(order))).all():
        return taken
    return taken.take(pa.array(np.argsort(order)))  # back to the order asked (one small in-memory batch)


def stratified_sample(dataset: Dataset, n: int, seed: int) -> Dataset:
    """`n` rows with the class proportions of `dataset` (all of it when n >= its length), seeded; a multi-label or
    regression dataset gives a seeded random sample."""
    if n >= len(dataset):
        return dataset
    return dataset.select(sample_rows(dataset, n, seed))


def limit_samples(
    corpus: DatasetDict,
    *,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    max_predict_samples: int | None = None,
    seed: int = 42,
) -> DatasetDict:
    """Cut train / validation / test down to their max_*_samples with stratified, seeded samples."""
    limits = {"train": max_train_samples, "validation": max_eval_samples, "test": max_predict_samples}
    for split, value in limits.items():
        check_max_samples(SAMPLE_LIMITS[split], value)
    return DatasetDict(
        {
            split: rows if limits.get(split) is None else stratified_sample(rows, limits[split], seed)
            for split, rows in corpus.items()
        }
    )
