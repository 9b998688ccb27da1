"""The one place that turns a model's logits into what a user reads: probabilities, the predicted class, its score.

Every backend (torch, onnx, onnx-int8) returns logits; predict.py, the demo page and explanations ask this module
for the rest. Another problem type (multi-label: sigmoid and thresholds; regression: a value) is one more branch
in `outputs_from_logits` and `prediction_columns`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Outputs:
    """Row i: `probabilities[i, j]` of class `label_names[j]`, the most probable class `labels[i]` and `scores[i]`."""

    probabilities: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def outputs_from_logits(logits: np.ndarray, label_names: Sequence[str]) -> Outputs:
    """Softmax over the classes (single-label classification, the only problem type trained today)."""
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), len(label_names))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True, initial=-np.inf))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    labels = np.asarray(label_names, dtype=object)[best]
    return Outputs(probabilities, labels, probabilities[np.arange(len(best)), best])


def prediction_columns(outputs: Outputs, label_names: Sequence[str], scored: np.ndarray | None = None) -> pd.DataFrame:
    """`label`, `score` and one `prob_<class>` column per class, one row per text; rows where `scored` is False
    (texts that could not be classified, e.g. empty ones) have every column empty instead of an invented class."""
    rows = len(outputs.labels) if scored is None else len(scored)
    if scored is None:
        scored = np.ones(rows, dtype=bool)
    columns = {"label": np.full(rows, None, dtype=object), "score": np.full(rows, np.nan)}
    columns["label"][scored] = outputs.labels
    columns["score"][scored] = outputs.scores.round(6)
    for index, name in enumerate(label_names):
        column = np.full(rows, np.nan)
        column[scored] = outputs.probabilities[:, index].round(6)
        columns[f"prob_{name}"] = column
    return pd.DataFrame(columns)
