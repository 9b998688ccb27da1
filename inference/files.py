"""Texts in (plain lines, CSV/TSV, JSON Lines, parquet, or stdin), read in chunks, and predictions out (JSON Lines
or CSV), appended chunk by chunk.

A file of any size is read a chunk of rows at a time (pandas' and pyarrow's chunked readers), so memory does not
grow with the row count. Tabular inputs keep their other columns in the output (an id column stays next to its
prediction). The output is written whole chunks at a time, and a small progress record beside it
(`OUTPUT.progress`) says how many rows and bytes are complete: a killed run leaves a valid prefix, and `--resume`
cuts any half-written chunk off and continues after it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textcls_errors import TextclsError

TABLES = (".csv", ".tsv", ".jsonl", ".parquet")
OUTPUT_FORMATS = (".jsonl", ".csv")
PROGRESS_SUFFIX = ".progress"


@dataclass
class Chunk:
    """Rows `first_row` (0-based, counted over the whole input) onwards: a `text` column and the input's others."""

    frame: pd.DataFrame
    first_row: int

    def empty_rows(self) -> np.ndarray:
        """Which rows have no text (missing, or only white space): they are marked, not classified."""
        return ~self.frame["text"].map(lambda value: isinstance(value, str) and bool(value.strip())).to_numpy(bool)


def read_chunks(path: str, text_column: str | None = None, chunk_size: int = 4096) -> Iterator[Chunk]:
    """The input in chunks of `chunk_size` rows; '-' reads one text per line from stdin. The first chunk is read
    (and the file checked) when the generator is first advanced."""
    origin = "standard input" if path == "-" else path
    if path != "-" and not Path(path).is_file():
        raise TextclsError(f"input file not found: {path}")
    suffix = "" if path == "-" else Path(path).suffix.lower()
    frames = _table_frames(path, suffix, chunk_size) if suffix in TABLES else _line_frames(path, chunk_size)
    column = text_column or "text"
    first_row = 0
    try:
        for frame in frames:
            if suffix in TABLES:
                frame = _text_column(frame, column, path, first_row)
            if len(frame):
                yield Chunk(frame.reset_index(drop=True), first_row)
            first_row += len(frame)
    except UnicodeDecodeError as error:
        raise TextclsError(f"{origin} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except (ValueError, OSError) as error:  # pandas' parser errors are ValueErrors
        raise TextclsError(f"{origin} could not be read as {suffix[1:] or 'text'}: {error}") from None
    if first_row == 0:
        what = "no rows" if suffix in TABLES else "no text: give one text per line"
        raise TextclsError(f"{origin} has {what}; nothing to classify")


def read_inputs(path: str, text_column: str | None = None) -> pd.DataFrame:
    """A small input whole (texts to explain, check texts), as one frame; empty texts are refused."""
    frame = pd.concat([chunk.frame for chunk in read_chunks(path, text_column)], ignore_index=True)
    empty = Chunk(frame, 0).empty_rows()
    if empty.any():
        rows = ", ".join(str(index + 1) for index in np.flatnonzero(empty)[:5])
        raise TextclsError(f"{path}: column {text_column or 'text'!r} has empty values (data rows {rows}, ...)")
    return frame


def _table_frames(path: str, suffix: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    if suffix == ".parquet":
        import pyarrow.parquet

        for batch in pyarrow.parquet.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
    elif suffix == ".jsonl":
        with pd.read_json(path, lines=True, dtype=False, chunksize=chunk_size, encoding="utf-8") as reader:
            yield from reader
    else:
        separator = "\t" if suffix == ".tsv" else ","
        with pd.read_csv(
            path, sep=separator, dtype=str, keep_default_na=False, chunksize=chunk_size, encoding="utf-8"
        ) as reader:
            yield from reader


def _line_frames(path: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    """One text per non-blank line."""
    source = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115  closed below (not stdin)
    try:
        texts = []
        for line in source:
            text = line.decode("utf-8").strip()
            if text:
                texts.append(text)
            if len(texts) == chunk_size:
                yield pd.DataFrame({"text": texts})
                texts = []
        yield pd.DataFrame({"text": texts})
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _text_column(frame: pd.DataFrame, column: str, path: str, first_row: int) -> pd.DataFrame:
    """The table with its text column named `text` (an input's own `text` column kept as `input_text`)."""
    if column not in frame.columns:
        raise TextclsError(
            f"{path} has no column {column!r}; its columns are {', '.join(map(str, frame.columns))}. "
            "Name the one holding the texts with --text_column."
        )
    values = frame[column]
    if not isinstance(values.dtype, pd.StringDtype):  # a string column (CSV, TSV) holds only texts and missing values
        other = ~values.map(lambda value: value is None or isinstance(value, str) or _is_nan(value)).to_numpy(bool)
        if other.any():
            rows = ", ".join(str(first_row + index + 1) for index in np.flatnonzero(other)[:5])
            raise TextclsError(f"{path}: column {column!r} has values that are not text (data rows {rows}, ...)")
    return frame.rename(columns={"text": "input_text", column: "text"}) if column != "text" else frame


def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value


def estimate_rows(path: str) -> int | None:
    """About how many rows the input has (for the progress bar's ETA): parquet's count, else its line count."""
    if path == "-":
        return None
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.ParquetFile(path).metadata.num_rows
    lines = 0
    with open(path, "rb") as file:
        while block := file.read(1 << 24):
            lines += block.count(b"\n")
    return max(lines - (suffix in (".csv", ".tsv")), 0)


def with_predictions(frame: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The input rows plus the prediction columns; an input's own column of one of those names (a gold `label`,
    say) is kept as input_<name>."""
    result = frame.rename(columns={column: f"input_{column}" for column in frame.columns if column in predictions})
    for column in predictions:
        result[column] = predictions[column].to_numpy()
    return result


def csv_text(frame: pd.DataFrame, header: bool) -> str:
    """The rows as CSV: pyarrow's writer (several times quicker than pandas') when every column is text or a number,
    pandas' otherwise. pyarrow quotes every text, writes 1.0 as 1 and tells an empty text ("") from a missing one."""
    head = frame.iloc[:0].to_csv(index=False, lineterminator="\n") if header else ""
    if not len(frame):
        return head
    import pyarrow
    import pyarrow.csv

    try:
        table = pyarrow.Table.from_pandas(frame, preserve_index=False)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError, pyarrow.ArrowNotImplementedError):
        table = None  # mixed objects in a column (a JSON Lines input, say)
    if table is None or not all(map(_arrow_writes_alike, table.schema.types)):
        return head + frame.to_csv(index=False, header=False, lineterminator="\n")
    sink = pyarrow.BufferOutputStream()
    pyarrow.csv.write_csv(table, sink, pyarrow.csv.WriteOptions(include_header=False))
    return head + sink.getvalue().to_pybytes().decode("utf-8")


def _arrow_writes_alike(kind) -> bool:
    """Types whose CSV text pyarrow writes as pandas reads it back (booleans, dates, lists are left to pandas)."""
    import pyarrow

    types = pyarrow.types
    return (
        types.is_string(kind)
        or types.is_large_string(kind)
        or types.is_float64(kind)
        or types.is_int64(kind)
        or types.is_null(kind)
    )


class PredictionWriter:
    """Appends prediction chunks to stdout (no path), a .jsonl or a .csv file, recording progress after each."""

    def __init__(self, path: str | None, input_path: str | None, resume: bool, identity: dict):
        self.path = None if path is None else Path(path)
        self.rows_done = 0
        self._bytes = 0
        self._identity = identity
        self._created = False
        if self.path is None:
            if resume:
                raise TextclsError("--resume needs --output: a run written to stdout cannot be continued")
            self._file = None
            self._format = ".jsonl"
            return
        self._format = self.path.suffix.lower()
        if self._format not in OUTPUT_FORMATS:
            raise TextclsError(
                f"--output {path}: unknown extension {self._format!r}; accepted: {', '.join(OUTPUT_FORMATS)}"
            )
        if input_path not in (None, "-") and self.path.resolve() == Path(input_path).resolve():
            raise TextclsError(f"--output {path} is the input file: writing there would destroy it; choose another")
        self.progress = self.path.with_name(self.path.name + PROGRESS_SUFFIX)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume and self.path.exists():
                self._continue_after_prefix()
                self._file = open(self.path, "r+b")  # noqa: SIM115  closed in finish()
                self._file.truncate(self._bytes)  # a chunk that was being written when the run stopped
                self._file.seek(self._bytes)
            else:
                if self.progress.exists():
                    print(f"{path} is from an unfinished run: starting over (--resume continues it)", file=sys.stderr)
                self._file = open(self.path, "wb")  # noqa: SIM115  closed in finish()
                self._created = True
                self._record()
        except OSError as error:  # checked before the model is loaded and any text classified
            raise TextclsError(f"cannot write --output {path}: {error.strerror or error}") from None

    def _continue_after_prefix(self) -> None:
        if not self.progress.is_file():
            raise TextclsError(
                f"--resume: {self.path} has no progress record ({self.progress.name}): it is complete or was not "
                "written by predict.py; delete it (or drop --resume) to classify from the start"
            )
        record = json.loads(self.progress.read_text(encoding="utf-8"))
        changed = [key for key, value in self._identity.items() if record.get(key) != value]
        if changed:
            raise TextclsError(
                f"--resume: {self.path} was started with other {', '.join(changed)} "
                f"({', '.join(f'{key}={record.get(key)!r}' for key in changed)}): continue with the same, or start over"
            )
        self.rows_done, self._bytes = int(record["rows"]), int(record["bytes"])
        if self.path.stat().st_size < self._bytes:
            raise TextclsError(f"--resume: {self.path} is shorter than its progress record says; start over")

    def write(self, frame: pd.DataFrame) -> None:
        if self._format == ".csv":
            text = csv_text(frame, header=self._bytes == 0)
        else:
            # pandas' writer: dates, missing values and numpy types all become valid JSON
            text = frame.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
            text = text if text.endswith("\n") else text + "\n"
        if self._file is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        data = text.encode("utf-8")
        self._file.write(data)  # one write per chunk, then the record: a kill leaves at most one partial chunk
        self._file.flush()
        self._bytes += len(data)
        self.rows_done += len(frame)
        self._record()

    def _record(self) -> None:
        temporary = self.progress.with_name(self.progress.name + ".tmp")
        temporary.write_text(json.dumps({"rows": self.rows_done, "bytes": self._bytes, **self._identity}))
        os.replace(temporary, self.progress)  # never a half-written record

    def finish(self) -> None:
        """Close the file; a finished output needs no progress record."""
        if self._file is not None:
            self._file.close()
            self.progress.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Stop after an error: keep what was written (to resume), or remove a file this run created empty."""
        if self._file is not None:
            self._file.close()
            if self._created and self.rows_done == 0:
                self.path.unlink(missing_ok=True)
                self.progress.unlink(missing_ok=True)


def write_frame(frame: pd.DataFrame, path: str | None) -> None:
    """A whole frame to stdout (no path) or to a .jsonl / .csv file."""
    writer = PredictionWriter(path, None, False, {})
    writer.write(frame)
    writer.finish()
