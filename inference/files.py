"""Texts in (plain lines, CSV/TSV, JSON Lines, parquet, or stdin) and predictions out (JSON Lines or CSV).

Tabular inputs keep their other columns in the output (an id column stays next to its prediction).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from textcls_errors import TextclsError

TABLE_READERS = {
    ".csv": lambda source: pd.read_csv(source, dtype=str, keep_default_na=False),
    ".tsv": lambda source: pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False),
    ".jsonl": lambda source: pd.read_json(source, lines=True, dtype=False),
    ".parquet": pd.read_parquet,
}
OUTPUT_FORMATS = (".jsonl", ".csv")


def read_inputs(path: str, text_column: str | None = None) -> pd.DataFrame:
    """A frame with a `text` column (and any other columns of a table); '-' reads lines from stdin."""
    if path == "-":
        try:
            return _lines(sys.stdin.buffer.read().decode("utf-8"), "standard input")
        except UnicodeDecodeError as error:
            raise TextclsError(f"standard input is not UTF-8 text ({error.reason} at byte {error.start})") from None
    file = Path(path)
    if not file.is_file():
        raise TextclsError(f"input file not found: {path}")
    suffix = file.suffix.lower()
    if suffix not in TABLE_READERS:
        try:
            return _lines(file.read_text(encoding="utf-8"), path)
        except UnicodeDecodeError as error:
            raise TextclsError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        frame = TABLE_READERS[suffix](file)
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise TextclsError(f"{path} could not be read as {suffix[1:]}: {error}") from None
    column = text_column or "text"
    if column not in frame.columns:
        raise TextclsError(
            f"{path} has no column {column!r}; its columns are {', '.join(map(str, frame.columns))}. "
            "Name the one holding the texts with --text_column."
        )
    if frame.empty:
        raise TextclsError(f"{path} has no rows: nothing to classify")
    texts = frame[column]
    missing = texts.isna() | ~texts.map(lambda value: isinstance(value, str))
    if missing.any():
        rows = ", ".join(str(index + 1) for index in np.flatnonzero(missing.to_numpy())[:5])
        raise TextclsError(f"{path}: column {column!r} has empty or non-text values (data rows {rows}, ...)")
    return frame.rename(columns={"text": "input_text", column: "text"}) if column != "text" else frame


def _lines(content: str, origin: str) -> pd.DataFrame:
    """One text per non-blank line."""
    texts = [line.strip() for line in io.StringIO(content) if line.strip()]
    if not texts:
        raise TextclsError(f"no text in {origin}: give one text per line")
    return pd.DataFrame({"text": texts})


def with_predictions(frame: pd.DataFrame, probabilities: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    """The input rows plus `label` (the most probable class), `score` (its probability) and `prob_<class>`."""
    # An input's own columns of these names (a gold `label`, say) are kept under input_<name>.
    outputs = {"label", "score", *(f"prob_{name}" for name in label_names)}
    result = frame.rename(columns={column: f"input_{column}" for column in frame.columns if column in outputs})
    best = probabilities.argmax(axis=1)
    result["label"] = np.asarray(label_names, dtype=object)[best]
    result["score"] = probabilities[np.arange(len(best)), best].round(6)
    for index, name in enumerate(label_names):
        result[f"prob_{name}"] = probabilities[:, index].round(6)
    return result


def write_outputs(frame: pd.DataFrame, path: str | None) -> None:
    """JSON Lines to stdout (no path) or to a .jsonl file; CSV to a .csv file."""
    if path is None:
        # pandas' writer, as for files: dates, missing values and numpy types all become valid JSON
        sys.stdout.write(frame.to_json(orient="records", lines=True, force_ascii=False, date_format="iso"))
        return
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise TextclsError(f"--output {path}: unknown extension {suffix!r}; accepted: {', '.join(OUTPUT_FORMATS)}")
    file.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(file, index=False, encoding="utf-8")
    else:
        frame.to_json(file, orient="records", lines=True, force_ascii=False, date_format="iso")
