"""The user's own train / validation / test files (CSV, TSV, JSON, JSON Lines, parquet) as a DatasetDict.

Each file is read and checked before anything is trained on it: text columns exist and are never empty, labels
read one way per column (see `data_scripts.labels`), and validation/test use no label that train lacks. The class
names are the training labels, sorted (integers numerically), so the same files always give the same label ids;
several 0/1 columns (`label_columns`) keep their given order.

Delimited files are read with the csv module, every cell as text (so that a label column is parsed by one rule, not by a
reader's guess per chunk): `delimiter` when the extension does not tell it, `column_names` for a file without a
header (fields beyond them are then ignored, with a logged count), `quoting: none` for text with bare quotes.

Files are read in chunks of `CHUNK_ROWS` rows and their texts streamed into an Arrow file in the datasets cache:
memory stays flat with the row count. Only the label columns are held whole, to settle the problem type and the
class names. The Arrow file is named after the source file (path, size, modification time and a hash of all its
bytes: `source_key`) and the reading settings, as datasets names its own caches: an unchanged file is read (every
check runs again) but not written again, keeps its dataset fingerprint, and later maps find their caches.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, Json
from datasets.exceptions import DatasetsError
from datasets.fingerprint import Hasher
from pyarrow import ArrowException

from data_scripts.labels import (
    check_list_items,
    check_one_kind,
    check_problem_type_setting,
    class_names,
    class_order,
    decode_json,
    flags_to_sets,
    infer_problem_type,
    kinds_of,
    label_feature,
    row_list,
    split_label_sets,
    to_floats,
)
from modeling.problem_types import MULTI_LABEL, REGRESSION
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

# Extension -> (datasets builder, its options); delimited files are read by `read_delimited`.
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {"delimiter": ","}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
    ".txt": ("csv", {"delimiter": None}),  # delimited text: the delimiter must be given
}
QUOTING = {"minimal": csv.QUOTE_MINIMAL, "none": csv.QUOTE_NONE}
SHOWN_ROWS = 5
CHUNK_ROWS = 10_000  # rows read, checked and written at a time
READER_VERSION = 1  # part of the texts file's name: a change in how texts are read must not find old files


@dataclass
class FileLayout:
    """How delimited files are laid out (JSON and parquet carry their own structure)."""

    delimiter: str | None = None
    column_names: list[str] | None = None
    quoting: str = "minimal"


@dataclass
class LabelSpec:
    """Where the labels are and what they mean."""

    label_column: str = "label"
    label_columns: list[str] | None = None
    label_separator: str | None = None
    problem_type: str | None = None  # None: inferred from the training file
    names: list[str] = field(default_factory=list)  # filled from the training file
    train_file: str | None = None  # named when another file uses a label it lacks


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception: datasets wraps the parser's own, more telling, message."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def _find_unicode_error(error: BaseException) -> UnicodeDecodeError | None:
    """The UnicodeDecodeError somewhere in the chain, if the file failed on its encoding."""
    while error is not None:
        if isinstance(error, UnicodeDecodeError):
            return error
        error = error.__cause__ or error.__context__
    return None


def not_utf8_message(argument: str, path: str, error: UnicodeDecodeError) -> str:
    """What to do about a file in another encoding (latin-1 / cp1252 exports are the usual case)."""
    name, suffix = Path(path).name, Path(path).suffix
    return (
        f"{argument}={path!r} is not UTF-8 ({error.reason}: byte {error.object[error.start]:#x}). Re-encode "
        f"it, e.g. `iconv -f latin1 -t utf-8 {name} > utf8{suffix}` if it is latin-1, and pass the new file."
    )


def existing_file(path: str, argument: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise TextclsError(f"{argument}={path!r}: no such file. Check the path (relative to {Path.cwd()}).")
    return file


def read_chunks(
    path: str, argument: str, cache_dir: str | None = None, layout: FileLayout | None = None
) -> Iterator[Table]:
    """Load one file by its extension, `CHUNK_ROWS` rows at a time; every way it can fail becomes a TextclsError
    naming it (some only once the whole file is read, e.g. rows with too many fields)."""
    layout = layout or FileLayout()
    file = existing_file(path, argument)
    suffix = file.suffix.lower()
    if suffix not in FORMATS:
        raise TextclsError(
            f"{argument}={path!r}: unknown extension {suffix!r}; accepted: {', '.join(FORMATS)}. "
            "Rename the file or convert it to one of these."
        )
    builder, options = FORMATS[suffix]
    try:
        if builder == "csv":
            yield from read_delimited(path, argument, options["delimiter"], layout)
            return
        if layout.column_names is not None:
            raise TextclsError(
                f"column_names is for delimited files without a header; {argument}={path!r} is {suffix[1:]}"
            )
        dataset = datasets.load_dataset(builder, data_files={"train": str(file)}, cache_dir=cache_dir)["train"]
        for batch in dataset.with_format("arrow").iter(batch_size=CHUNK_ROWS):
            yield Table.from_arrow(batch, dataset.features, argument, path)
    except (DatasetsError, ValueError, ArrowException, OSError, csv.Error) as error:
        unicode_error = _find_unicode_error(error)
        if unicode_error is not None:
            raise TextclsError(not_utf8_message(argument, path, unicode_error)) from error
        cause = _root_cause(error)
        if "corresponds to no data" in str(cause):
            raise TextclsError(f"{argument}={path!r} has no data rows (only a header, or nothing).") from error
        raise TextclsError(
            f"{argument}={path!r} could not be read as {suffix[1:]}: {type(cause).__name__}: {cause}"
        ) from error


@dataclass
class Table:
    """Some rows of a file: columns as lists (header order), with the features of those a parquet file typed
    itself. `header` names all the file's columns when `columns` holds only some of them."""

    columns: dict[str, list]
    class_labels: dict[str, ClassLabel] = field(default_factory=dict)
    header: list[str] | None = None

    @property
    def column_names(self) -> list[str]:
        return list(self.header if self.header is not None else self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @classmethod
    def from_arrow(cls, batch: pa.Table, features: datasets.Features, argument: str, path: str) -> Table:
        columns, class_labels = {}, {}
        for name, feature in features.items():
            try:
                # Through Arrow in one go: decoding happens here, and a datasets Column iterates row by row.
                values = batch.column(name).to_pylist()
            except UnicodeDecodeError as error:  # the JSON reader lets bad UTF-8 through; it surfaces here
                raise TextclsError(not_utf8_message(argument, path, error)) from error
            if isinstance(feature, Json):  # a column of mixed JSON types, kept as JSON text by datasets
                values = decode_json(values)
            if isinstance(feature, ClassLabel):  # a parquet file written by datasets keeps its class names
                class_labels[name] = feature
                values = [None if value is None else feature.int2str(value) for value in values]
            columns[name] = values
        return cls(columns, class_labels)


def read_delimited(path: str, argument: str, delimiter: str | None, layout: FileLayout) -> Iterator[Table]:
    """A CSV/TSV/delimited text file in chunks, every cell as text (empty cells missing); see the module docstring.

    Read with the csv module rather than pandas: pandas takes a row with one field more than the header as an
    index column and shifts it silently, where a row must either keep its columns or be named. Rows with more
    fields than a header are named once the whole file is read.
    """
    delimiter = layout.delimiter or delimiter
    if delimiter is None:
        raise TextclsError(
            f"{argument}={path!r}: the extension does not say how fields are separated; set delimiter "
            '(e.g. "\\t" for tab-separated text).'
        )
    if layout.quoting not in QUOTING:
        raise TextclsError(f"quoting must be one of {', '.join(QUOTING)}; got {layout.quoting!r}.")
    if len(delimiter) != 1:
        raise TextclsError(f"delimiter must be one character; got {delimiter!r}.")
    names = list(layout.column_names) if layout.column_names else None
    long_rows: list[int] = []
    seen = 0
    with open(path, encoding="utf-8", newline="") as handle:
        records = (row for row in csv.reader(handle, delimiter=delimiter, quoting=QUOTING[layout.quoting]) if row)
        if names is None:
            names = next(records, [])
        while chunk := list(itertools.islice(records, CHUNK_ROWS)):
            long_rows += [seen + row for row, fields in enumerate(chunk, start=1) if len(fields) > len(names)]
            seen += len(chunk)
            if long_rows and not layout.column_names:
                continue  # an error once the file is read: only the row numbers matter now
            columns = {}
            for position, name in enumerate(names):
                columns[str(name)] = [
                    fields[position] if position < len(fields) and fields[position] != "" else None for fields in chunk
                ]
            yield Table(columns)
    if not seen:
        raise TextclsError(f"{argument}={path!r} has no data rows (only a header, or nothing).")
    if long_rows and not layout.column_names:
        raise TextclsError(
            f"{argument}={path!r}: {row_list(long_rows)} (1-based data rows, header not counted) have more "
            f"fields than the {len(names)} of the header. A delimiter inside an unquoted text shifts the columns: "
            "quote the text; or, if the extra fields are trailing notes, give column_names (fields beyond them are "
            "then ignored)."
        )
    if long_rows:
        logger.warning(
            "%s: %d rows have more than the %d named columns; their extra trailing fields are ignored",
            Path(path).name,
            len(long_rows),
            len(names),
        )


def missing_columns_error(table: Table, columns: list[str], argument: str, path: str) -> TextclsError | None:
    """The error for text columns the file lacks, if it lacks any."""
    missing = [column for column in columns if column not in table.column_names]
    if not missing:
        return None
    return TextclsError(
        f"{argument}={path!r} has no column(s) {missing}; its columns are {table.column_names}. "
        "Set text_columns (and label_column) to the names used in the file."
    )


def join_texts(table: Table, columns: list[str]) -> list[str]:
    """The text of every row: the columns joined with a newline (a missing cell in one of several is skipped)."""
    parts = [table.columns[column] for column in columns]
    return ["\n".join(str(value) for value in values if value is not None) for values in zip(*parts, strict=True)]


def empty_rows_error(rows: list[int], columns: list[str], argument: str, path: str) -> TextclsError | None:
    """The error for rows (1-based) whose text is empty, if there are any: no row may end up empty."""
    if not rows:
        return None
    return TextclsError(
        f"{argument}={path!r}: {row_list(rows)} (1-based data rows, header not counted) have empty "
        f"or missing text in {columns}. Remove those rows or fill them in."
    )


def source_key(path: str, settings: list) -> str:
    """What names a file's texts in the cache: the file (path, size, modification time and all its bytes) and the
    settings that read it. The labels are read from the file on every run, so the cached texts must be its texts
    whatever a timestamp says: hashing the whole file costs one sequential read (about a second per GB), a small
    part of reading it."""
    file = Path(path)
    stat = file.stat()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr([READER_VERSION, str(file.resolve()), stat.st_size, stat.st_mtime_ns, settings]).encode())
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TextFileWriter:
    """Streams a split's text columns into an Arrow file in the cache, or writes nothing when the file is there
    already (the same source read the same way; another process of the run may have written it)."""

    def __init__(self, cache_dir: str | None, names: list[str], name: str):
        root = Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / "textcls_files"
        self.target, self.names, self.partial = root / name, names, None
        if self.target.is_file():
            return
        root.mkdir(parents=True, exist_ok=True)
        handle, self.partial = tempfile.mkstemp(dir=root, suffix=".arrow.partial")
        self.handle = os.fdopen(handle, "wb")
        self.writer = pa.ipc.new_stream(self.handle, pa.schema([(name, pa.string()) for name in names]))

    def write(self, columns: dict[str, list[str]]) -> None:
        if self.partial is not None:
            arrays = [pa.array(columns[name], pa.string()) for name in self.names]
            self.writer.write_batch(pa.record_batch(arrays, names=self.names))

    def finish(self) -> Dataset:
        if self.partial is not None:
            self.writer.close()
            self.handle.close()
            if self.target.is_file():  # written meanwhile by another process: keep its file (and timestamp)
                os.unlink(self.partial)
            else:
                os.replace(self.partial, self.target)
            self.partial = None
        return Dataset.from_file(str(self.target))

    def discard(self) -> None:
        if self.partial is not None:
            self.writer.close()
            self.handle.close()
            os.unlink(self.partial)
            self.partial = None


def read_split(
    split: str,
    argument: str,
    path: str,
    columns: list[str],
    pair_column: str | None,
    spec: LabelSpec,
    layout: FileLayout,
    cache_dir: str | None,
) -> Dataset:
    """One file as a Dataset (`text`, [`text_pair`,] `label`): texts streamed to disk chunk by chunk, the label
    columns gathered whole and read by `read_labels`. Errors come in the order: the file's own, text columns,
    empty texts, pair column, empty pairs, labels."""
    label_names = spec.label_columns or [spec.label_column]
    names = ["text"] if pair_column is None else ["text", "text_pair"]
    settings = [layout.delimiter, layout.column_names, layout.quoting, columns, pair_column]
    existing_file(path, argument)
    writer = TextFileWriter(cache_dir, names, f"{split}-{source_key(path, settings)}.arrow")
    try:
        header, class_labels, text_missing, pair_missing = None, {}, None, None
        empty_texts: list[int] = []
        empty_pairs: list[int] = []
        label_values: dict[str, list] = {}
        seen = 0
        for table in read_chunks(path, argument, cache_dir, layout):
            if header is None:
                header, class_labels = table.column_names, table.class_labels
                text_missing = missing_columns_error(table, columns, argument, path)
                if pair_column is not None:
                    pair_missing = missing_columns_error(table, [pair_column], argument, path)
                label_values = {name: [] for name in label_names if name in header}
            if text_missing is None:
                texts = {"text": join_texts(table, columns)}
                empty_texts += [seen + row for row, text in enumerate(texts["text"], start=1) if not text.strip()]
                if pair_column is not None and pair_missing is None:
                    texts["text_pair"] = join_texts(table, [pair_column])
                    empty_pairs += [
                        seen + row for row, text in enumerate(texts["text_pair"], start=1) if not text.strip()
                    ]
                if len(texts) == len(writer.names):
                    writer.write(texts)
            for name, values in label_values.items():
                values.extend(table.columns[name])
            seen += len(table)
        for error in (
            text_missing,
            empty_rows_error(empty_texts, columns, argument, path),
            pair_missing,
            empty_rows_error(empty_pairs, [pair_column], argument, path),
        ):
            if error is not None:
                raise error
        labels = read_labels(Table(label_values, class_labels, header), spec, argument, path, split == "train")
        dataset = writer.finish()
    except BaseException:
        writer.discard()
        raise
    return with_labels(dataset, labels, label_feature(spec.problem_type, spec.names))


def with_labels(dataset: Dataset, labels: list, feature) -> Dataset:
    """`dataset` with the `label` column added. The new fingerprint is named from a hash of the column's Arrow
    buffers: left to itself, datasets pickles the whole Python list to name it (3 s of a 15 s read of 100,000 rows)."""
    column = pa.array(labels, type=datasets.Features({"label": feature}).arrow_schema.field("label").type)
    digest = hashlib.blake2b(digest_size=16)
    for buffer in column.buffers():
        if buffer is not None:
            digest.update(buffer)
    fingerprint = Hasher.hash((dataset._fingerprint, "label", repr(feature), len(column), digest.hexdigest()))
    return dataset.add_column("label", column, feature=feature, new_fingerprint=fingerprint)


def read_labels(table: Table, spec: LabelSpec, argument: str, path: str, is_train: bool) -> list:
    """Each row's label as the corpus stores it (class id, list of label ids, or float); on the training file
    also settles `spec.problem_type` (inferred when unset, and logged) and `spec.names`."""
    if spec.label_columns:
        missing = [column for column in spec.label_columns if column not in table.column_names]
        if missing:
            raise TextclsError(
                f"{argument}={path!r} has no label column(s) {missing}; its columns are {table.column_names}. "
                "Fix label_columns."
            )
        sets = flags_to_sets({name: table.columns[name] for name in spec.label_columns}, argument, path)
        kinds = ["list"] * len(sets)
        source = "label_columns"
    else:
        column = spec.label_column
        if column not in table.column_names:
            raise TextclsError(
                f"{argument}={path!r} has no label column {column!r}; its columns are {table.column_names}. "
                "Set label_column to the column holding the labels (or label_columns for several 0/1 columns)."
            )
        values = table.columns[column]
        kinds = kinds_of(values)
        source = f"column {column!r}"
    if is_train and spec.problem_type is None:
        spec.problem_type = infer_problem_type(kinds, bool(spec.label_columns), bool(spec.label_separator))
        logger.info(
            "problem_type %s, inferred from the labels of %s (set problem_type to override)",
            spec.problem_type,
            source,
        )
    if spec.problem_type == MULTI_LABEL:
        if not spec.label_columns:
            check_one_kind(kinds, {"list", "name", "integer"}, argument, path, column, "lists or delimited names")
            check_list_items(values, argument, path, column)
            if "list" not in kinds and spec.label_separator is None:
                logger.warning(
                    "%s: multi-label, but column %r holds one name per row and no label_separator is set", path, column
                )
            sets = split_label_sets(values, spec.label_separator)
        if is_train:
            spec.names = (
                list(spec.label_columns)
                if spec.label_columns
                else class_order([name for labels in sets for name in labels])
            )
            if not spec.names:
                raise TextclsError(f"{argument}={path!r}: no row has any label; a multi-label run needs some.")
        _check_known({name for labels in sets for name in labels}, spec, argument, path)
        index = {name: i for i, name in enumerate(spec.names)}
        return [sorted(index[name] for name in labels) for labels in sets]

    if spec.label_columns:
        raise TextclsError(
            f"label_columns gives several 0/1 columns, which is multi-label; problem_type is {spec.problem_type}."
        )
    missing_rows = [row for row, kind in enumerate(kinds, start=1) if kind == "missing"]
    if missing_rows:
        raise TextclsError(
            f"{argument}={path!r}: {row_list(missing_rows)} (1-based data rows, header not counted) have no "
            f"label in column {column!r}. Every row needs one: label them or remove them."
        )
    if spec.problem_type == REGRESSION:
        return to_floats(values, argument, path, column)
    check_one_kind(kinds, {"name", "integer"}, argument, path, column, "class names or whole numbers")
    labels = class_names(values)
    if is_train:
        stored = table.class_labels.get(column)
        spec.names = list(stored.names) if stored is not None else class_order(labels)
    _check_known(set(labels), spec, argument, path)
    index = {name: i for i, name in enumerate(spec.names)}
    return [index[label] for label in labels]


def _check_known(used: set[str], spec: LabelSpec, argument: str, path: str) -> None:
    unknown = sorted(used - set(spec.names))
    if unknown:
        raise TextclsError(
            f"{argument}={path!r} has label(s) {unknown[:SHOWN_ROWS]} that train_file={spec.train_file!r} never uses; "
            f"the known labels are {spec.names}. Fix the labels, or add examples of them to train."
        )


def text_sources(
    text_columns: list[str] | None, text_pair_column: str | None, text_pair: bool
) -> tuple[list, str | None]:
    """The columns that make `text`, and the one that makes `text_pair` (None: single texts)."""
    columns = list(text_columns) if text_columns is not None else ["text"]
    if isinstance(text_columns, str) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise TextclsError(f"text_columns={text_columns!r}: expected a non-empty list of column names, e.g. ['text'].")
    if text_pair and text_pair_column:
        raise TextclsError("give either text_pair_column or text_pair: true with two text_columns, not both.")
    if text_pair:
        if len(columns) != 2:
            raise TextclsError(
                f"text_pair: true reads the two text_columns as a pair (first, second); got text_columns={columns}."
            )
        return columns[:1], columns[1]
    return columns, text_pair_column


def load_local_files(
    train_file: str | None,
    validation_file: str | None = None,
    test_file: str | None = None,
    *,
    text_columns: list[str] | None = None,
    label_column: str = "label",
    label_columns: list[str] | None = None,
    label_separator: str | None = None,
    problem_type: str | None = None,
    text_pair_column: str | None = None,
    text_pair: bool = False,
    delimiter: str | None = None,
    column_names: list[str] | None = None,
    quoting: str = "minimal",
    cache_dir: str | None = None,
) -> DatasetDict:
    """Read the given files into train (and validation / test): `text`, `label` (see `data_scripts.labels`), and
    `text_pair` when pairs are read."""
    if train_file is None:
        raise TextclsError(
            "no data: set dataset_name (ag_news or 20newsgroups) or give a train_file "
            f"({', '.join(FORMATS)}) with a text and a label column."
        )
    check_problem_type_setting(problem_type)
    if label_columns is not None and (not label_columns or isinstance(label_columns, str)):
        raise TextclsError(f"label_columns={label_columns!r}: expected a list of 0/1 column names, e.g. [anger, joy].")
    if label_columns and label_separator:
        raise TextclsError(
            "label_separator splits one label column; label_columns names several 0/1 columns: pick one."
        )
    if problem_type is not None and problem_type != MULTI_LABEL and (label_columns or label_separator):
        raise TextclsError(
            f"problem_type={problem_type!r}, but label_columns / label_separator give several labels per row "
            "(multi_label_classification)."
        )
    columns, pair_column = text_sources(text_columns, text_pair_column, text_pair)
    layout = FileLayout(delimiter=delimiter, column_names=column_names, quoting=quoting or "minimal")
    spec = LabelSpec(label_column, label_columns, label_separator, problem_type, train_file=train_file)
    files = {"train": ("train_file", train_file), "validation": ("validation_file", validation_file)}
    files["test"] = ("test_file", test_file)
    splits = {}
    for split, (argument, path) in files.items():
        if path is not None:
            splits[split] = read_split(split, argument, path, columns, pair_column, spec, layout, cache_dir)
    return DatasetDict(splits)


__all__ = ["FORMATS", "FileLayout", "LabelSpec", "Table", "load_local_files", "read_chunks"]
