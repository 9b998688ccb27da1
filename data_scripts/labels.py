"""Labels as users write them, read one way per column, and the corpus's `label` feature for each problem type.

A label column is parsed as a whole: class names, integers, numbers (regression), lists (multi-label), a
delimited string (multi-label, `label_separator`) or several 0/1 columns (multi-label, `label_columns`). A column
whose rows disagree (names beside numbers, "2.5" beside "sports") stops with the rows that are the odd ones out,
never becomes extra classes.

The corpus's `label` feature says the problem type (`problem_type_of_features`):
- single-label: `ClassLabel(names)`, one class id per row;
- multi-label: `List(ClassLabel(names))`, the ids of a row's labels (possibly none), as datasets' own multi-label
  corpora store them; the multi-hot vector the loss needs is made at tokenization (`multi_hot`);
- regression: `Value("float32")`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np
from datasets import ClassLabel, Features, List, Value

from modeling.problem_types import MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL
from textcls_errors import TextclsError

SHOWN_ROWS = 5  # row numbers listed in an error message before "and N more"
TRUE_VALUES, FALSE_VALUES = {"1", "1.0", "true"}, {"0", "0.0", "false"}


def row_list(rows: Sequence[int]) -> str:
    """'rows 3, 7 and 12' with 1-based data row numbers, the first few only."""
    shown = ", ".join(str(row) for row in rows[:SHOWN_ROWS])
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def where(argument: str, path: str, column: str) -> str:
    return f"{argument}={path!r}, column {column!r}"


def is_missing(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def kind_of(value: object) -> str:
    """How one label value reads: 'missing', 'list', 'integer', 'number' (not whole), 'name' or 'other'."""
    if is_missing(value):
        return "missing"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, bool):
        return "other"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else ("number" if math.isfinite(value) else "other")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return "name"
        if not math.isfinite(number):
            return "name"  # "inf", "nan" as words
        return "integer" if number.is_integer() else "number"
    return "other"


def per_distinct_text(function: Callable[[object], str], values: Sequence[object]) -> list[str]:
    """`function` of each value, computed once per distinct text however often it repeats (a million labels are a
    few dozen distinct class names: 6.7 s of a million-row read otherwise, 0.3 s so); other values each time."""
    seen: dict[str, str] = {}
    return [
        (seen[value] if value in seen else seen.setdefault(value, function(value)))
        if type(value) is str
        else function(value)
        for value in values
    ]


def kinds_of(values: Sequence[object]) -> list[str]:
    """`kind_of` each value (`per_distinct_text`)."""
    return per_distinct_text(kind_of, values)


def decode_json(values: list) -> list:
    """datasets reads a JSON column of mixed types as JSON text ('"cars"', '2.5'): the values as written."""
    return [None if value is None else json.loads(value) for value in values]


def infer_problem_type(kinds: Sequence[str], has_label_columns: bool, has_separator: bool) -> str:
    """The problem type the label data makes unambiguous: lists or 0/1 columns or a separator -> multi-label,
    numbers that are not all whole -> regression, else single-label."""
    present = set(kinds) - {"missing"}
    if has_label_columns or has_separator or "list" in present:
        return MULTI_LABEL
    if "number" in present and present <= {"number", "integer"}:
        return REGRESSION
    return SINGLE_LABEL


def check_one_kind(kinds: Sequence[str], allowed: set[str], argument: str, path: str, column: str, expect: str):
    """Stop, naming the odd rows, when a column's values do not all read one way."""
    counts = {kind: kinds.count(kind) for kind in set(kinds) - {"missing"}}
    odd = [kind for kind in counts if kind not in allowed]
    if "name" in counts and ({"integer", "number"} & set(counts)) and not odd:
        # names beside numbers: the minority kind is the odd one out
        majority = max(counts, key=counts.get)
        odd = [kind for kind in counts if (kind == "name") != (majority == "name")]
    if not odd:
        return
    rows = [row for row, kind in enumerate(kinds, start=1) if kind in odd]
    seen = ", ".join(sorted(counts))
    raise TextclsError(
        f"{where(argument, path, column)}: labels must read one way per column ({expect}), but it mixes "
        f"{seen}; {row_list(rows)} (1-based data rows, header not counted) disagree with the rest. "
        "Fix those rows, or set problem_type if the column means something else."
    )


def class_names(values: Sequence[object]) -> list[str]:
    """Labels as class names: whole numbers without their '.0' (1.0 and "1" are the class "1")."""
    return per_distinct_text(class_name, values)


def class_name(value: object) -> str:
    return str(int(float(value))) if kind_of(value) == "integer" else str(value).strip()


def class_order(labels: Sequence[str]) -> list[str]:
    """Sorted class names: numerically when every label is an integer, else alphabetically."""
    unique = set(labels)
    if all(label.lstrip("-").isdigit() for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def to_floats(values: Sequence[object], argument: str, path: str, column: str) -> list[float]:
    """Regression targets as floats; a value that is not a finite number stops, naming its rows."""
    bad = [row for row, value in enumerate(values, start=1) if kind_of(value) not in ("integer", "number")]
    if bad:
        example = values[bad[0] - 1]
        raise TextclsError(
            f"{where(argument, path, column)}: regression labels must be numbers; {row_list(bad)} (1-based data "
            f"rows, header not counted) are not (e.g. {example!r})."
        )
    return [float(value) for value in values]


def split_label_sets(values: Sequence[object], separator: str | None) -> list[list[str]]:
    """Each row's label names: a list as it is, a delimited string split on `separator`; missing -> no labels."""
    sets = []
    for value in values:
        if is_missing(value):
            sets.append([])
        elif isinstance(value, (list, tuple)):
            sets.append(class_names([item for item in value if not is_missing(item)]))
        else:
            parts = str(value).split(separator) if separator else [str(value)]
            sets.append(class_names([part for part in parts if part.strip()]))
    return sets


def check_list_items(sets_source: Sequence[object], argument: str, path: str, column: str) -> None:
    """Items of a list column must be names or integers (a 0.5 inside a label list is not a label)."""
    bad = [
        row
        for row, value in enumerate(sets_source, start=1)
        if isinstance(value, (list, tuple)) and any(kind_of(item) not in ("name", "integer") for item in value)
    ]
    if bad:
        raise TextclsError(
            f"{where(argument, path, column)}: items of a label list must be names or integers; {row_list(bad)} "
            "(1-based data rows) hold something else."
        )


def flags_to_sets(columns: dict[str, list], argument: str, path: str) -> list[list[str]]:
    """Several 0/1 columns (label_columns) as each row's label names; anything but 0/1 stops, naming rows."""
    names = list(columns)
    rows = len(next(iter(columns.values()))) if columns else 0
    sets: list[list[str]] = [[] for _ in range(rows)]
    for name, values in columns.items():
        bad = []
        for row, value in enumerate(values):
            text = str(value).strip().lower() if not is_missing(value) else None
            if text in TRUE_VALUES:
                sets[row].append(name)
            elif text not in FALSE_VALUES:
                bad.append(row + 1)
        if bad:
            raise TextclsError(
                f"{where(argument, path, name)}: a label_columns column holds 0 or 1 in every row; {row_list(bad)} "
                f"(1-based data rows, header not counted) hold something else (e.g. {values[bad[0] - 1]!r})."
            )
    return [sorted(labels, key=names.index) for labels in sets]


# --- the corpus's label feature ------------------------------------------------------------------------------------


def label_feature(problem_type: str, names: Sequence[str] | None):
    """The `label` feature of a corpus of this problem type."""
    if problem_type == SINGLE_LABEL:
        return ClassLabel(names=list(names))
    if problem_type == MULTI_LABEL:
        return List(ClassLabel(names=list(names)))
    return Value("float32")


def problem_type_of_features(features: Features) -> str:
    """The problem type a corpus's `label` feature stores (see the module docstring)."""
    feature = features["label"]
    if isinstance(feature, ClassLabel):
        return SINGLE_LABEL
    if isinstance(feature, (List, list)) and isinstance(getattr(feature, "feature", None), ClassLabel):
        return MULTI_LABEL
    if isinstance(feature, Value) and feature.dtype.startswith("float"):
        return REGRESSION
    raise ValueError(f"a corpus label is a ClassLabel, a list of ClassLabel or a float; got {feature}")


def label_names_of_features(features: Features, regression_name: str = "label") -> list[str]:
    """The class or label names in id order; regression: `[regression_name]` (the name of the predicted value)."""
    feature = features["label"]
    problem_type = problem_type_of_features(features)
    if problem_type == SINGLE_LABEL:
        return list(feature.names)
    if problem_type == MULTI_LABEL:
        return list(feature.feature.names)
    return [regression_name]


def multi_hot(label_ids: Sequence[Sequence[int]], num_labels: int) -> np.ndarray:
    """Rows of label ids -> a (rows, num_labels) float32 matrix of 0/1."""
    matrix = np.zeros((len(label_ids), num_labels), dtype=np.float32)
    for row, ids in enumerate(label_ids):
        matrix[row, list(ids)] = 1.0
    return matrix


def check_problem_type_setting(problem_type: str | None) -> None:
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise TextclsError(
            f"problem_type must be one of {', '.join(PROBLEM_TYPES)} (or unset to infer it); got {problem_type!r}."
        )
