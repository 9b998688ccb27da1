"""The user's own train / validation / test files (CSV, TSV, JSON, JSON Lines, parquet) as a DatasetDict.

Each file is read with `datasets.load_dataset` and checked before anything is trained on it: text
columns exist and are never empty, labels are never missing, and validation/test use no label that
train lacks. The class names are the training labels, sorted (integers numerically), so the same
files always give the same label ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.exceptions import DatasetsError
from pyarrow import ArrowException

from textcls_errors import TextclsError

# Extension -> (datasets builder, its options). Only empty cells count as missing in CSV/TSV: pandas'
# default would also turn the words "NA", "null" or "None" into missing values.
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {"keep_default_na": False, "na_values": [""]}),
    ".tsv": ("csv", {"delimiter": "\t", "keep_default_na": False, "na_values": [""]}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}
SHOWN_ROWS = 5  # row numbers listed in an error message before "and N more"


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


def column_values(table: Dataset, column: str, argument: str, path: str) -> list:
    """One column as a list; the JSON reader lets bad UTF-8 through, and it surfaces only here."""
    try:
        # Through Arrow in one go: decoding happens here, and a datasets Column iterates row by row.
        return table.with_format("arrow")[column].to_pylist()
    except UnicodeDecodeError as error:
        raise TextclsError(not_utf8_message(argument, path, error)) from error


def read_table(path: str, argument: str, cache_dir: str | None = None) -> Dataset:
    """Load one file by its extension; every way it can fail becomes a TextclsError naming it."""
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
        return datasets.load_dataset(builder, data_files={"train": str(file)}, cache_dir=cache_dir, **options)["train"]
    except (DatasetsError, ValueError, ArrowException, OSError) as error:
        unicode_error = _find_unicode_error(error)
        if unicode_error is not None:
            raise TextclsError(not_utf8_message(argument, path, unicode_error)) from error
        cause = _root_cause(error)
        if "corresponds to no data" in str(cause):
            raise TextclsError(f"{argument}={path!r} has no data rows (only a header, or nothing).") from error
        raise TextclsError(
            f"{argument}={path!r} could not be read as {suffix[1:]}: {type(cause).__name__}: {cause}"
        ) from error


def _row_list(rows: list[int]) -> str:
    """'rows 3, 7 and 12' with 1-based data row numbers, the first few only."""
    shown = ", ".join(str(row) for row in rows[:SHOWN_ROWS])
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def read_texts(table: Dataset, columns: list[str], argument: str, path: str) -> list[str]:
    """The text of every row: the columns joined with a newline; no row may end up empty."""
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise TextclsError(
            f"{argument}={path!r} has no column(s) {missing}; its columns are {table.column_names}. "
            "Set text_columns (and label_column) to the names used in the file."
        )
    parts = [column_values(table, column, argument, path) for column in columns]
    # A missing cell in one of several columns is skipped; the row fails only if nothing is left.
    texts = ["\n".join(str(value) for value in values if value is not None) for values in zip(*parts, strict=True)]
    empty = [row for row, text in enumerate(texts, start=1) if not text.strip()]
    if empty:
        raise TextclsError(
            f"{argument}={path!r}: {_row_list(empty)} (1-based data rows, header not counted) have empty "
            f"or missing text in {columns}. Remove those rows or fill them in."
        )
    return texts


def read_labels(table: Dataset, column: str, argument: str, path: str) -> tuple[list[str], list[str] | None]:
    """Each row's label as a name, plus the file's own class order when it stores a ClassLabel."""
    if column not in table.column_names:
        raise TextclsError(
            f"{argument}={path!r} has no label column {column!r}; its columns are {table.column_names}. "
            "Set label_column to the column holding the labels."
        )
    feature = table.features[column]
    values = column_values(table, column, argument, path)
    missing = [row for row, value in enumerate(values, start=1) if value is None or str(value).strip() == ""]
    if missing:
        raise TextclsError(
            f"{argument}={path!r}: {_row_list(missing)} (1-based data rows, header not counted) have no "
            f"label in column {column!r}. Every row needs one: label them or remove them."
        )
    if isinstance(feature, ClassLabel):  # a parquet file written by datasets keeps its class names
        return [feature.int2str(value) for value in values], list(feature.names)
    if all(isinstance(value, float) and value.is_integer() for value in values):
        values = [int(value) for value in values]  # 1.0 → "1": integer labels read back as floats
    unsupported = sorted({repr(value) for value in values if not isinstance(value, (str, int))})
    if unsupported or any(isinstance(value, bool) for value in values):
        raise TextclsError(
            f"{argument}={path!r}: labels in column {column!r} must be names or integers; got "
            f"{unsupported[:SHOWN_ROWS] or 'true/false'}."
        )
    return [str(value) for value in values], None


def class_order(labels: list[str]) -> list[str]:
    """Sorted class names: numerically when every label is an integer, else alphabetically."""
    unique = set(labels)
    if all(label.lstrip("-").isdigit() for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def load_local_files(
    train_file: str | None,
    validation_file: str | None = None,
    test_file: str | None = None,
    *,
    text_columns: list[str] | None = None,
    label_column: str = "label",
    cache_dir: str | None = None,
) -> DatasetDict:
    """Read the given files into train (and validation / test) with the training labels as classes."""
    if train_file is None:
        raise TextclsError(
            "no data: set dataset_name (ag_news or 20newsgroups) or give a train_file "
            f"({', '.join(FORMATS)}) with a text and a label column."
        )
    columns = list(text_columns) if text_columns is not None else ["text"]
    if isinstance(text_columns, str) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise TextclsError(f"text_columns={text_columns!r}: expected a non-empty list of column names, e.g. ['text'].")
    files = {"train": ("train_file", train_file), "validation": ("validation_file", validation_file)}
    files["test"] = ("test_file", test_file)
    names: list[str] = []
    splits = {}
    for split, (argument, path) in files.items():
        if path is None:
            continue
        table = read_table(path, argument, cache_dir)
        texts = read_texts(table, columns, argument, path)
        labels, stored_order = read_labels(table, label_column, argument, path)
        if split == "train":
            names = stored_order or class_order(labels)
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise TextclsError(
                f"{argument}={path!r} has label(s) {unknown[:SHOWN_ROWS]} that train_file={train_file!r} "
                f"never uses; the known labels are {names}. Fix the labels, or add examples of them to train."
            )
        index = {name: i for i, name in enumerate(names)}
        features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
        splits[split] = Dataset.from_dict({"text": texts, "label": [index[label] for label in labels]}, features)
    return DatasetDict(splits)
