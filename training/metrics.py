"""The metrics the Trainer reports at each evaluation: accuracy and macro/weighted precision, recall, F1.

Computed with scikit-learn rather than `evaluate.load`, which downloads its metric scripts.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax as _softmax
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from transformers import EvalPrediction


def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
    """Accuracy and macro/weighted precision, recall and F1 from logits (the Trainer adds eval_/test_)."""
    logits = eval_pred.predictions
    if isinstance(logits, tuple):  # models asked for hidden states return (logits, hidden_states, ...)
        logits = logits[0]
    y_pred = np.asarray(logits).argmax(axis=-1)
    y_true = np.asarray(eval_pred.label_ids)
    metrics = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        # zero_division=0: a class never predicted on a small eval set scores 0 instead of warning every epoch
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        metrics[f"{average}_precision"] = float(precision)
        metrics[f"{average}_recall"] = float(recall)
        metrics[f"{average}_f1"] = float(f1)
    return metrics


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits along the last axis (scipy's, which is stable for large logits)."""
    return _softmax(np.asarray(logits, dtype=np.float64), axis=-1)
