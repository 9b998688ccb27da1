"""compute_metrics against values worked out by hand, and softmax on extreme logits."""

import warnings

import numpy as np
import pytest
from transformers import EvalPrediction

from training.metrics import compute_metrics, softmax

KEYS = {
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
}


def logits_for(predicted: list[int], n_classes: int) -> np.ndarray:
    """Logits whose argmax is `predicted`, with noise so the other columns are not all equal."""
    rng = np.random.default_rng(0)
    return np.eye(n_classes)[predicted] * 5.0 + rng.normal(scale=0.1, size=(len(predicted), n_classes))


def test_perfect_predictions_score_one():
    labels = np.array([0, 1, 2, 2, 1, 0])
    metrics = compute_metrics(EvalPrediction(predictions=logits_for(labels.tolist(), 3), label_ids=labels))
    assert set(metrics) == KEYS
    assert all(value == pytest.approx(1.0) for value in metrics.values())
    assert all(type(value) is float for value in metrics.values())  # json-serialisable, no numpy scalars


def test_macro_and_weighted_differ_as_computed_by_hand():
    # true  0 0 0 0 1 1 2
    # pred  0 0 0 1 1 2 2
    # class 0: TP 3 FP 0 FN 1 -> P 1,   R 3/4, F1 6/7   (support 4)
    # class 1: TP 1 FP 1 FN 1 -> P 1/2, R 1/2, F1 1/2   (support 2)
    # class 2: TP 1 FP 1 FN 0 -> P 1/2, R 1,   F1 2/3   (support 1)
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    predicted = [0, 0, 0, 1, 1, 2, 2]
    metrics = compute_metrics(EvalPrediction(predictions=logits_for(predicted, 3), label_ids=labels))
    expected = {
        "accuracy": 5 / 7,
        "macro_precision": (1 + 1 / 2 + 1 / 2) / 3,
        "macro_recall": (3 / 4 + 1 / 2 + 1) / 3,
        "macro_f1": (6 / 7 + 1 / 2 + 2 / 3) / 3,  # 85/126
        "weighted_precision": (4 * 1 + 2 * 1 / 2 + 1 * 1 / 2) / 7,  # 11/14
        "weighted_recall": 5 / 7,  # weighted recall is accuracy
        "weighted_f1": (4 * 6 / 7 + 2 * 1 / 2 + 1 * 2 / 3) / 7,  # 107/147
    }
    assert metrics == pytest.approx(expected)
    assert metrics["macro_f1"] != pytest.approx(metrics["weighted_f1"])


def test_tuple_predictions_use_the_logits():
    labels = np.array([1, 0, 1])
    logits = logits_for([1, 0, 0], 2)
    hidden_states = np.zeros((3, 4, 8))
    from_tuple = compute_metrics(EvalPrediction(predictions=(logits, hidden_states), label_ids=labels))
    assert from_tuple == compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert from_tuple["accuracy"] == pytest.approx(2 / 3)


def test_class_never_predicted_scores_zero_without_warning():
    labels = np.array([0, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's UndefinedMetricWarning would fail here
        metrics = compute_metrics(EvalPrediction(predictions=logits_for([0, 0, 0, 0], 2), label_ids=labels))
    # class 0: P 1/4, R 1, F1 2/5; class 1: never predicted -> P 0 (zero_division), R 0, F1 0
    assert metrics["macro_precision"] == pytest.approx(1 / 8)
    assert metrics["macro_f1"] == pytest.approx(1 / 5)


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    logits = np.array([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    probabilities = softmax(logits)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.argmax(axis=1))
    np.testing.assert_allclose(probabilities[2], [1 / 3] * 3)
    e = np.exp([-1.0, 0.0, -2.0])
    np.testing.assert_allclose(probabilities[0], e / e.sum())
