"""The one place that turns a model's logits into what a user reads, for every problem type.

Every backend (torch, onnx, onnx-int8) returns logits; predict.py, the demo page and explanations ask this module
for the rest, and this module asks `modeling.problem_types` (the owner of the problem type) what the logits mean
and what they decide, with the thresholds that config.json records:

- single-label: softmax probabilities; the predicted class and its probability;
- multi-label: one sigmoid probability per label; the set of labels whose probability reaches its threshold;
- regression: the predicted value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modeling import problem_types
from modeling.problem_types import LABEL_SET_SEPARATOR  # as predictions.csv writes a label set


@dataclass
class Outputs:
    """What the model says about n texts.

    `scores`: `problem_types.output_scores` — probabilities (n, outputs) for classification, values (n,) for
    regression. `decisions`: `problem_types.decide` — class ids (n,), a 0/1 matrix (n, labels), or the values.
    `names`: the decisions in words — a class name, a list of label names, or a float per row.
    """

    problem_type: str
    label_names: list[str]
    scores: np.ndarray
    decisions: np.ndarray
    names: list
    thresholds: np.ndarray | None = None  # multi-label: each label's threshold, as applied

    @property
    def probabilities(self) -> np.ndarray:
        """Class or label probabilities (n, outputs); a regression model has none."""
        if self.problem_type == problem_types.REGRESSION:
            raise ValueError("a regression model predicts a value, not probabilities")
        return self.scores

    @property
    def top_scores(self) -> np.ndarray:
        """Single-label: the probability of the predicted class; multi-label: the largest label probability;
        regression: the value."""
        if self.problem_type == problem_types.REGRESSION:
            return self.scores
        return self.scores.max(axis=1, initial=0.0)

    def row(self, index: int) -> dict[str, Any]:
        """One text's outputs as JSON-ready values (the demo page's answer)."""
        if self.problem_type == problem_types.REGRESSION:
            return {"problem_type": self.problem_type, "name": self.label_names[0], "value": float(self.scores[index])}
        ranked = np.argsort(-self.scores[index], kind="stable")
        probabilities = []
        for column in ranked.tolist():
            entry = {"label": self.label_names[column], "probability": float(self.scores[index, column])}
            if self.thresholds is not None:
                entry["threshold"] = float(self.thresholds[column])
                entry["predicted"] = bool(self.decisions[index, column])
            probabilities.append(entry)
        answer = {"problem_type": self.problem_type, "probabilities": probabilities}
        if self.problem_type == problem_types.MULTI_LABEL:
            answer["labels"] = list(self.names[index])
        else:
            answer["label"] = self.names[index]
        return answer


def outputs_from_logits(config: Any, logits: np.ndarray) -> Outputs:
    """Scores, decisions and their names for `logits` of shape (n, outputs), as `config`'s problem type reads them."""
    label_names = problem_types.label_names_of(config)
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), len(label_names))
    problem_type = problem_types.problem_type_of(config)
    scores = problem_types.output_scores(config, logits)
    decisions = problem_types.decide(config, scores)
    thresholds = problem_types.decision_thresholds(config) if problem_type == problem_types.MULTI_LABEL else None
    names = problem_types.decision_names(config, decisions)
    return Outputs(problem_type, label_names, scores, decisions, names, thresholds)


def prediction_columns(outputs: Outputs, scored: np.ndarray | None = None) -> pd.DataFrame:
    """The columns predict.py writes, one row per text:

    - single-label: `label`, `score` (its probability) and one `prob_<class>` column per class;
    - multi-label: `labels` (the predicted set, joined by '|'; empty when no label reaches its threshold) and one
      `prob_<label>` column per label;
    - regression: `value`.

    Rows where `scored` is False (texts that could not be classified, e.g. empty ones) have every column empty
    instead of an invented prediction.
    """
    rows = len(outputs.scores) if scored is None else len(scored)
    if scored is None:
        scored = np.ones(rows, dtype=bool)
    columns: dict[str, np.ndarray] = {}
    if outputs.problem_type == problem_types.REGRESSION:
        columns["value"] = np.full(rows, np.nan)
        columns["value"][scored] = outputs.scores.round(6)
        return pd.DataFrame(columns)
    if outputs.problem_type == problem_types.MULTI_LABEL:
        columns["labels"] = np.full(rows, None, dtype=object)
        columns["labels"][scored] = [LABEL_SET_SEPARATOR.join(names) for names in outputs.names]
    else:
        columns["label"] = np.full(rows, None, dtype=object)
        columns["label"][scored] = outputs.names
        columns["score"] = np.full(rows, np.nan)
        columns["score"][scored] = outputs.top_scores.round(6)
    for index, name in enumerate(outputs.label_names):
        column = np.full(rows, np.nan)
        column[scored] = outputs.scores[:, index].round(6)
        columns[f"prob_{name}"] = column
    return pd.DataFrame(columns)
