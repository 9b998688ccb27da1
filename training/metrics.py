"""The metrics the Trainer reports at each evaluation, for each problem type, and the multi-label threshold tuning.

- single-label: accuracy and macro/weighted precision, recall, F1;
- multi-label: sample-averaged Jaccard (the SemEval-2018 E-c task metric; a row where gold and prediction are both
  empty counts 1), micro/macro/weighted precision, recall and F1, subset accuracy (every label right), Hamming loss;
- regression: MSE, RMSE, MAE, Pearson and Spearman correlation (0 when the predictions are constant, where they
  are undefined: a NaN would stick as the best score).

Computed with scikit-learn and scipy rather than `evaluate.load`, which downloads its metric scripts. Outputs are
turned into decisions by `modeling.problem_types` (softmax/argmax, sigmoid/thresholds, identity).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import softmax as _softmax
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    hamming_loss,
    jaccard_score,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
)
from transformers import EvalPrediction

from modeling import problem_types
from modeling.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL

# metric_for_best_model (and early stopping) when the run does not name one
BEST_MODEL_METRIC = {SINGLE_LABEL: "macro_f1", MULTI_LABEL: "micro_f1", REGRESSION: "spearman"}
METRIC_NAMES = {
    SINGLE_LABEL: ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
                   "weighted_recall", "weighted_f1"),
    MULTI_LABEL: ("jaccard", "micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall",
                  "macro_f1", "weighted_precision", "weighted_recall", "weighted_f1", "subset_accuracy",
                  "hamming_loss"),
    REGRESSION: ("mse", "rmse", "mae", "pearson", "spearman"),
}  # fmt: skip
LOWER_IS_BETTER = {"hamming_loss", "mse", "rmse", "mae", "loss"}
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)  # candidate thresholds for tuning


def metrics_for(config: Any) -> Callable[[EvalPrediction], dict[str, float]]:
    """The Trainer's `compute_metrics` for a model with this config. The config is read at every call, so
    thresholds tuned after training are the ones the final evaluation uses."""

    def compute(eval_pred: EvalPrediction) -> dict[str, float]:
        logits = eval_pred.predictions
        if isinstance(logits, tuple):  # models asked for hidden states return (logits, hidden_states, ...)
            logits = logits[0]
        return score(config, np.asarray(eval_pred.label_ids), problem_types.predict(config, logits))

    return compute


def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
    """Single-label metrics from logits (kept for callers without a config)."""
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    return single_label_metrics(np.asarray(eval_pred.label_ids), np.asarray(logits).argmax(axis=-1))


def score(config: Any, gold: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    """The metrics of this problem type for decisions (`problem_types.decide`) against gold labels."""
    problem_type = problem_types.problem_type_of(config)
    if problem_type == SINGLE_LABEL:
        return single_label_metrics(gold, decisions)
    if problem_type == MULTI_LABEL:
        return multi_label_metrics(gold, decisions)
    return regression_metrics(gold, decisions)


def single_label_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro/weighted precision, recall and F1."""
    metrics = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        # zero_division=0: a class never predicted on a small eval set scores 0 instead of warning every epoch
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        metrics[f"{average}_precision"] = float(precision)
        metrics[f"{average}_recall"] = float(recall)
        metrics[f"{average}_f1"] = float(f1)
    return metrics


def multi_label_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Jaccard (sample average), micro/macro/weighted P/R/F1, subset accuracy and Hamming loss of 0/1 matrices."""
    y_true, y_pred = np.asarray(y_true).round().astype(int), np.asarray(y_pred).astype(int)
    metrics = {"jaccard": float(jaccard_score(y_true, y_pred, average="samples", zero_division=1.0))}
    for average in ("micro", "macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        metrics[f"{average}_precision"] = float(precision)
        metrics[f"{average}_recall"] = float(recall)
        metrics[f"{average}_f1"] = float(f1)
    metrics["subset_accuracy"] = float(accuracy_score(y_true, y_pred))
    metrics["hamming_loss"] = float(hamming_loss(y_true, y_pred))
    return metrics


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE, MAE, Pearson and Spearman correlation of predicted against gold values."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64).ravel(), np.asarray(y_pred, dtype=np.float64).ravel()
    mse = float(mean_squared_error(y_true, y_pred))
    constant = np.ptp(y_pred) == 0 or np.ptp(y_true) == 0
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "pearson": 0.0 if constant else float(pearsonr(y_true, y_pred).statistic),
        "spearman": 0.0 if constant else float(spearmanr(y_true, y_pred).statistic),
    }


def tune_thresholds(scores: np.ndarray, gold: np.ndarray, strategy: str = "per_label") -> list[float]:
    """Decision thresholds from validation scores (sigmoid outputs) and gold 0/1 rows.

    'per_label': each label's threshold maximises that label's F1 (0.5 kept for a label with no positive row,
    where F1 cannot choose); 'global': one threshold for all labels, maximising micro-F1. Ties go to the threshold
    nearest 0.5.
    """
    if strategy not in ("per_label", "global"):
        raise ValueError(f"threshold strategy must be 'per_label' or 'global'; got {strategy!r}")
    scores, gold = np.asarray(scores, dtype=np.float64), np.asarray(gold).round().astype(bool)
    grid = THRESHOLD_GRID[np.argsort(np.abs(THRESHOLD_GRID - 0.5), kind="stable")]  # nearest 0.5 first: wins ties
    predicted = scores[:, :, None] >= grid  # (rows, labels, thresholds)
    true_positives = (predicted & gold[:, :, None]).sum(axis=0)
    false_positives = (predicted & ~gold[:, :, None]).sum(axis=0)
    false_negatives = (~predicted & gold[:, :, None]).sum(axis=0)
    if strategy == "global":
        tp, fp, fn = true_positives.sum(0), false_positives.sum(0), false_negatives.sum(0)
        micro_f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        return [float(grid[int(np.argmax(micro_f1))])] * scores.shape[1]
    f1 = 2 * true_positives / np.maximum(2 * true_positives + false_positives + false_negatives, 1)
    best = grid[np.argmax(f1, axis=1)]  # argmax takes the first maximum: the threshold nearest 0.5
    return [float(t) if gold[:, label].any() else problem_types.DEFAULT_THRESHOLD for label, t in enumerate(best)]


def greater_is_better(metric: str) -> bool:
    """Whether a larger value of this metric is better (losses and error rates are not)."""
    return metric.removeprefix("eval_") not in LOWER_IS_BETTER


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits along the last axis (scipy's, which is stable for large logits)."""
    return _softmax(np.asarray(logits, dtype=np.float64), axis=-1)
