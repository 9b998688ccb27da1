"""The second text of a pair model's inputs (premise/hypothesis, question/answer, two sentences to compare).

A model trained on pairs records `text_pair: true` in config.json (`modeling.problem_types.reads_text_pairs`);
the classifier refuses pairs for a one-text model and requires them for a pair model. This module puts an input
table's second-text column under one name, `text_pair`, as `inference.files` puts the first under `text`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from inference.files import Chunk
from textcls_errors import TextclsError

PAIR = "text_pair"


def with_pair_column(chunks: Iterator[Chunk], column: str, origin: str) -> Iterator[Chunk]:
    """The chunks with their `column` renamed `text_pair` (an input's own `text_pair` column kept as
    `input_text_pair`); a missing column stops with the columns there are."""
    for chunk in chunks:
        frame = chunk.frame
        if column not in frame.columns:
            raise TextclsError(
                f"{origin} has no column {column!r} for the second texts; its columns are "
                f"{', '.join(map(str, frame.columns))}. Name the one holding them with --text_pair_column."
            )
        if column != PAIR:
            frame = frame.rename(columns={PAIR: f"input_{PAIR}", column: PAIR})
        yield Chunk(frame, chunk.first_row)


def pairs_frame(texts: list[str], text_pairs: list[str] | None) -> pd.DataFrame:
    """The rows of texts given on the command line (--text, and --text_pair once per --text)."""
    if text_pairs is None:
        return pd.DataFrame({"text": texts})
    if len(text_pairs) != len(texts):
        raise TextclsError(
            f"{len(texts)} --text but {len(text_pairs)} --text_pair: give one --text_pair after each --text"
        )
    return pd.DataFrame({"text": texts, PAIR: text_pairs})


def empty_pair_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows without a second text: like rows without a text, they are kept unclassified, not guessed."""
    return ~frame[PAIR].map(lambda value: isinstance(value, str) and bool(value.strip())).to_numpy(bool)
