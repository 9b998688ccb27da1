"""The user's own train / validation / test files (CSV, TSV, JSON, JSON Lines, parquet) as a DatasetDict.

Each file is read and checked before anything is trained on it: text columns exist and are never empty, labels
read one way per column (see `data_scripts.labels`), and validation/test use no label that train lacks. The class
names are the training labels, sorted (integers numerically), so the same files always give the same label ids;
several 0/1 columns (`label_columns`) keep their given order.

Delimited files are read with the csv module, every cell as text (so that a label column is parsed by one rule, not by a
reader's guess per chunk): `delimiter` when the extension does not tell it, `column_names` for a file without a
header (fields beyond them are then ignored, with a logged count), `quoting: none` for text with bare quotes.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Json, Value
from datasets.exceptions import DatasetsError
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
    kind_of,
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


def read_table(path: str, argument: str, cache_dir: str | None = None, layout: FileLayout | None = None) -> Table:
    """Load one file by its extension; every way it can fail becomes a TextclsError naming it."""
    layout = layout or FileLayout()
    file = Path(path)
    if not file.is_file():
        raise TextclsError(f"{argument}={path!r}: no such file. Check the path (relative to {Path.cwd()}).")
    suffix = file.suffix.lower()
    if suffix not in FORMATS:
        raise TextclsError(
            f"{argument}={path!r}: unknown extension {suffix!r}; accepted: {', '.join(FORMATS)}. "
            "Rename the file or convert it to one of these."
        )
    builder, options = FORMATS[suffix]
    try:
        if builder == "csv":
            return read_delimited(path, argument, options["delimiter"], layout)
        if layout.column_names is not None:
            raise TextclsError(
                f"column_names is for delimited files without a header; {argument}={path!r} is {suffix[1:]}"
            )
        dataset = datasets.load_dataset(builder, data_files={"train": str(file)}, cache_dir=cache_dir)["train"]
        return Table.from_dataset(dataset, argument, path)
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
    """A file's columns as lists (header order), with the features of those a parquet file typed itself."""

    columns: dict[str, list]
    class_labels: dict[str, ClassLabel] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @classmethod
    def from_dataset(cls, dataset: Dataset, argument: str, path: str) -> Table:
        columns, class_labels = {}, {}
        for name, feature in dataset.features.items():
            try:
                # Through Arrow in one go: decoding happens here, and a datasets Column iterates row by row.
                values = dataset.with_format("arrow")[name].to_pylist()
            except UnicodeDecodeError as error:  # the JSON reader lets bad UTF-8 through; it surfaces here
                raise TextclsError(not_utf8_message(argument, path, error)) from error
            if isinstance(feature, Json):  # a column of mixed JSON types, kept as JSON text by datasets
                values = decode_json(values)
            if isinstance(feature, ClassLabel):  # a parquet file written by datasets keeps its class names
                class_labels[name] = feature
                values = [None if value is None else feature.int2str(value) for value in values]
            columns[name] = values
        return cls(columns, class_labels)


def read_delimited(path: str, argument: str, delimiter: str | None, layout: FileLayout) -> Table:
    """A CSV/TSV/delimited text file, every cell as text (empty cells missing); see the module docstring.

    Read with the csv module rather than pandas: pandas takes a row with one field more than the header as an
    index column and shifts it silently, where a row must either keep its columns or be named.
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
    with open(path, encoding="utf-8", newline="") as handle:
        records = [row for row in csv.reader(handle, delimiter=delimiter, quoting=QUOTING[layout.quoting]) if row]
    names = list(layout.column_names) if layout.column_names else (records.pop(0) if records else [])
    if not records:
        raise TextclsError(f"{argument}={path!r} has no data rows (only a header, or nothing).")
    long_rows = [row for row, fields in enumerate(records, start=1) if len(fields) > len(names)]
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
    columns = {}
    for position, name in enumerate(names):
        columns[str(name)] = [
            fields[position] if position < len(fields) and fields[position] != "" else None for fields in records
        ]
    return Table(columns)


def read_texts(table: Table, columns: list[str], argument: str, path: str) -> list[str]:
    """The text of every row: the columns joined with a newline; no row may end up empty."""
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise TextclsError(
            f"{argument}={path!r} has no column(s) {missing}; its columns are {table.column_names}. "
            "Set text_columns (and label_column) to the names used in the file."
        )
    parts = [table.columns[column] for column in columns]
    # A missing cell in one of several columns is skipped; the row fails only if nothing is left.
    texts = ["\n".join(str(value) for value in values if value is not None) for values in zip(*parts, strict=True)]
    empty = [row for row, text in enumerate(texts, start=1) if not text.strip()]
    if empty:
        raise TextclsError(
            f"{argument}={path!r}: {row_list(empty)} (1-based data rows, header not counted) have empty "
            f"or missing text in {columns}. Remove those rows or fill them in."
        )
    return texts


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
        kinds = [kind_of(value) for value in values]
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
        if path is None:
            continue
        table = read_table(path, argument, cache_dir, layout)
        rows = {"text": read_texts(table, columns, argument, path)}
        if pair_column is not None:
            rows["text_pair"] = read_texts(table, [pair_column], argument, path)
        rows["label"] = read_labels(table, spec, argument, path, is_train=split == "train")
        features = {"text": Value("string")}
        if pair_column is not None:
            features["text_pair"] = Value("string")
        features["label"] = label_feature(spec.problem_type, spec.names)
        splits[split] = Dataset.from_dict(rows, Features(features))
    return DatasetDict(splits)


__all__ = ["FORMATS", "FileLayout", "LabelSpec", "Table", "load_local_files", "read_table"]
