"""The one owner of the problem type: what a model's outputs mean, how they are scored, and what decides them.

transformers names the problem type in `config.problem_type`; this module reads it (and the fields next to it in
`config.json`) and answers every question that depends on it, so that callers ask here instead of branching:

- `single_label_classification`: one output per class; softmax; the decision is the argmax (one class id); the
  loss is cross-entropy (class weights, label smoothing).
- `multi_label_classification`: one output per label; sigmoid; a label is predicted when its score reaches its
  threshold (a set of labels, possibly empty); the loss is BCE with logits (`pos_weight`, label smoothing).
- `regression`: one output; identity; the decision is the value; the loss is mean squared error.

What `config.json` records (`config_fields` gives them all, for any family):
- `problem_type`, and `id2label`/`label2id`: the class (or label) names in output order; regression has one output,
  named after the value it predicts (e.g. "score").
- `class_weights`: a weight per class (single-label cross-entropy) or the `pos_weight` per label (multi-label
  BCE), in output order; null when unweighted.
- `decision_thresholds`: multi-label only, the score from which each label is predicted (0.5 until tuned).
- `text_pair`: whether the model reads two texts (`tokenizer(text, text_pair)`).

A folder saved before these fields existed reads as single-label, unweighted, one text (regression if it has a
single output, as transformers infers).

This file is copied next to the weights of the GloVe and RNN models by `save_pretrained` (they import it
relatively), so it imports nothing from this project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)
DEFAULT_THRESHOLD = 0.5
LABEL_SET_SEPARATOR = "|"  # a label set written in one column (predictions.csv, predict.py): "joy|love"; none: ""
BALANCED = "balanced"
# the config.json fields this module owns (see the module docstring)
CONFIG_FIELDS = ("problem_type", "id2label", "label2id", "class_weights", "decision_thresholds", "text_pair")


def check_problem_type(problem_type: str) -> str:
    """`problem_type` if it is one of PROBLEM_TYPES, else a ValueError listing them."""
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}; got {problem_type!r}")
    return problem_type


def problem_type_of(config: Any) -> str:
    """The config's problem type; a config without one is single-label, or regression with a single output."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type is None:
        return REGRESSION if getattr(config, "num_labels", 2) == 1 else SINGLE_LABEL
    return check_problem_type(problem_type)


def label_names_of(config: Any) -> list[str]:
    """The output names in output order (classes, labels, or the one regression target)."""
    return [config.id2label[index] for index in range(config.num_labels)]


def reads_text_pairs(config: Any) -> bool:
    """Whether the model was trained on two texts per example (tokenizer(text, text_pair))."""
    return bool(getattr(config, "text_pair", False))


def config_fields(
    problem_type: str,
    label_names: Sequence[str],
    *,
    class_weights: Sequence[float] | None = None,
    decision_thresholds: Sequence[float] | None = None,
    text_pair: bool = False,
) -> dict[str, Any]:
    """The config.json fields of a model for this problem: keyword arguments for any `PretrainedConfig`.

    `label_names` are the classes (single-label), the labels (multi-label) or the single name of the predicted
    value (regression). `decision_thresholds` is left out when not given (0.5 each until tuned), so that loading a
    trained folder with these fields keeps the thresholds it saved.
    """
    check_problem_type(problem_type)
    label_names = [str(name) for name in label_names]
    if problem_type == REGRESSION and len(label_names) != 1:
        raise ValueError(f"a regression model has one output, named once; got names {label_names}")
    if problem_type == SINGLE_LABEL and len(label_names) < 2:
        raise ValueError(f"single-label classification needs two classes or more; got {label_names}")
    if problem_type == REGRESSION and class_weights is not None:
        raise ValueError("class weights weigh classes or labels; a regression model has none")
    if class_weights is not None and len(class_weights) != len(label_names):
        raise ValueError(f"class_weights has {len(class_weights)} entries for {len(label_names)} labels")
    fields = {
        "problem_type": problem_type,
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: index for index, name in enumerate(label_names)},
        "class_weights": None if class_weights is None else [float(weight) for weight in class_weights],
        "text_pair": bool(text_pair),
    }
    if decision_thresholds is not None:
        if problem_type != MULTI_LABEL:
            raise ValueError(f"decision thresholds are for multi-label models, not {problem_type}")
        fields["decision_thresholds"] = check_thresholds(decision_thresholds, len(label_names))
    return fields


def apply_fields(config: Any, fields: dict[str, Any]) -> Any:
    """Set `config_fields(...)` on an existing config and return it. Setting them as attributes, rather than as
    keyword arguments of `from_pretrained`, is what keeps them: transformers drops keyword arguments that are not
    fields of the config class (class_weights, decision_thresholds, text_pair of a BertConfig)."""
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def fields_of(config: Any) -> dict[str, Any]:
    """The fields of `CONFIG_FIELDS` that `config` holds, to hand on to another config (e.g. a wrapper's)."""
    return {name: getattr(config, name) for name in CONFIG_FIELDS if getattr(config, name, None) is not None}


def check_thresholds(thresholds: Sequence[float], num_labels: int) -> list[float]:
    """One threshold per label, each in (0, 1), as floats; a ValueError otherwise."""
    values = [float(value) for value in thresholds]
    if len(values) != num_labels or not all(0.0 < value < 1.0 for value in values):
        raise ValueError(f"decision_thresholds needs {num_labels} numbers in (0, 1); got {list(thresholds)}")
    return values


def decision_thresholds(config: Any) -> np.ndarray:
    """Each label's threshold (multi-label), 0.5 for a config that records none."""
    thresholds = getattr(config, "decision_thresholds", None)
    if thresholds is None:
        return np.full(config.num_labels, DEFAULT_THRESHOLD)
    return np.asarray(check_thresholds(thresholds, config.num_labels))


def set_decision_thresholds(config: Any, thresholds: Sequence[float]) -> None:
    """Record tuned thresholds in the config (saved with the model); multi-label only."""
    if problem_type_of(config) != MULTI_LABEL:
        raise ValueError(f"decision thresholds are for multi-label models, not {problem_type_of(config)}")
    config.decision_thresholds = check_thresholds(thresholds, config.num_labels)


# --- outputs -----------------------------------------------------------------------------------------------------


def output_scores(config: Any, logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """What the logits mean: class probabilities (softmax, rows sum to 1), per-label probabilities (sigmoid) or
    the predicted values (regression, shape (n,))."""
    logits = _as_array(logits)
    problem_type = problem_type_of(config)
    if problem_type == SINGLE_LABEL:
        shifted = logits - logits.max(axis=-1, keepdims=True)  # stable for large logits
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)
    if problem_type == MULTI_LABEL:
        return 0.5 * (1.0 + np.tanh(0.5 * logits))  # the sigmoid without overflow
    return logits.reshape(len(logits), -1)[:, 0]


def decide(config: Any, scores: np.ndarray) -> np.ndarray:
    """The decision from `output_scores`: class ids (n,), a 0/1 matrix (n, labels) from the thresholds, or the
    values themselves (n,)."""
    scores = np.asarray(scores)
    problem_type = problem_type_of(config)
    if problem_type == SINGLE_LABEL:
        return scores.argmax(axis=-1)
    if problem_type == MULTI_LABEL:
        return (scores >= decision_thresholds(config)).astype(np.int64)
    return scores


def predict(config: Any, logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """`decide(config, output_scores(config, logits))`."""
    return decide(config, output_scores(config, logits))


def decision_names(config: Any, decisions: np.ndarray) -> list:
    """Decisions in words: a class name per row, a list of label names per row, or the value per row."""
    names = label_names_of(config)
    problem_type = problem_type_of(config)
    if problem_type == SINGLE_LABEL:
        return [names[index] for index in np.asarray(decisions).tolist()]
    if problem_type == MULTI_LABEL:
        return [[names[i] for i in np.flatnonzero(row)] for row in np.asarray(decisions)]
    return [float(value) for value in np.asarray(decisions).tolist()]


# --- loss --------------------------------------------------------------------------------------------------------


def label_dtype(problem_type: str) -> torch.dtype:
    """The dtype of the `labels` tensor the loss expects: class ids, or floats (multi-hot rows, values)."""
    return torch.long if check_problem_type(problem_type) == SINGLE_LABEL else torch.float32


def compute_loss(config: Any, logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """The training loss of every model family, a mean over the batch.

    Single-label: cross-entropy, weighted by `config.class_weights` (torch's weighted mean) and smoothed by
    `label_smoothing`. Multi-label: binary cross-entropy with logits, `config.class_weights` as `pos_weight`, targets
    smoothed towards 0.5. Regression: mean squared error (label smoothing is refused before training).
    A config without a problem type gets one on first use, inferred from the labels as transformers does.
    """
    if getattr(config, "problem_type", None) is None:
        config.problem_type = infer_from_labels(config.num_labels, labels)
    problem_type = problem_type_of(config)
    weights = getattr(config, "class_weights", None)
    weights = None if weights is None else torch.tensor(weights, dtype=logits.dtype, device=logits.device)
    labels = labels.to(logits.device)
    if problem_type == SINGLE_LABEL:
        return functional.cross_entropy(
            logits.view(-1, config.num_labels), labels.view(-1).long(), weight=weights, label_smoothing=label_smoothing
        )
    if problem_type == MULTI_LABEL:
        targets = labels.to(logits.dtype).view_as(logits)
        if label_smoothing:
            targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
        return functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=weights)
    return functional.mse_loss(logits.view(-1), labels.view(-1).to(logits.dtype))


def infer_from_labels(num_labels: int, labels: torch.Tensor) -> str:
    """transformers' rule for a config without a problem type: one output is regression, integer labels are
    single-label, float labels multi-label."""
    if num_labels == 1:
        return REGRESSION
    return SINGLE_LABEL if labels.dtype in (torch.long, torch.int) else MULTI_LABEL


def mean_loss(config: Any, logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0) -> float:
    """`compute_loss` over a whole evaluation set at once (e.g. logits gathered from several processes)."""
    logits_tensor = torch.as_tensor(_as_array(logits))
    labels_tensor = torch.as_tensor(np.asarray(labels)).to(label_dtype(problem_type_of(config)))
    if labels_tensor.is_floating_point():
        labels_tensor = labels_tensor.to(logits_tensor.dtype)
    return float(compute_loss(config, logits_tensor, labels_tensor, label_smoothing))


def check_label_smoothing(problem_type: str, label_smoothing: float) -> None:
    """Label smoothing acts on class targets; a regression target has none to smooth."""
    if label_smoothing and check_problem_type(problem_type) == REGRESSION:
        raise ValueError(
            f"label_smoothing_factor={label_smoothing} smooths class targets; a regression target is a value. "
            "Set it to 0."
        )


def resolve_class_weights(
    setting: str | Mapping[str, float] | None,
    problem_type: str,
    label_names: Sequence[str],
    count_labels: Callable[[], tuple[np.ndarray, int]],
) -> list[float] | None:
    """The `class_weights` a run asks for, as one weight per output, or None (unweighted).

    `setting`: None or "none"; "balanced" (single-label: n / (classes * count), as scikit-learn's
    `compute_class_weight`; multi-label: negatives / positives per label, the `pos_weight` torch suggests); or a
    mapping {name: weight}, where names not given weigh 1. `count_labels()`: the training rows per class (per label
    when multi-label) and the number of rows; called only for "balanced", the one setting that needs them.
    """
    if setting is None or setting == "none":
        return None
    check_problem_type(problem_type)
    if problem_type == REGRESSION:
        raise ValueError(
            "class_weights weigh classes in the loss; a regression run has no classes. Remove class_weights "
            "(or set it to none)."
        )
    names = [str(name) for name in label_names]
    if isinstance(setting, str):
        if setting != BALANCED:
            raise ValueError(f"class_weights must be 'balanced', 'none' or {{label: weight}}; got {setting!r}")
        counts, rows = count_labels()
        return _balanced_weights(problem_type, names, np.asarray(counts, dtype=np.float64), rows)
    if not isinstance(setting, Mapping):
        raise ValueError(f"class_weights must be 'balanced', 'none' or {{label: weight}}; got {setting!r}")
    unknown = sorted(set(map(str, setting)) - set(names))
    if unknown:
        raise ValueError(f"class_weights names {unknown}, which are not labels of this data; the labels are {names}")
    weights = []
    for name in names:
        value = setting.get(name, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not np.isfinite(value):
            raise ValueError(f"class_weights[{name!r}]={value!r}: expected a positive number")
        weights.append(float(value))
    return weights


def _balanced_weights(problem_type: str, names: list[str], counts: np.ndarray, rows: int) -> list[float]:
    if problem_type == SINGLE_LABEL:
        missing = [name for name, count in zip(names, counts, strict=True) if count == 0]
        if missing:
            raise ValueError(f"class_weights 'balanced': classes {missing} have no training example")
        return (rows / (len(names) * counts)).tolist()
    positives = counts
    negatives = rows - positives
    extreme = [name for name, pos, neg in zip(names, positives, negatives, strict=True) if pos == 0 or neg == 0]
    if extreme:
        raise ValueError(f"class_weights 'balanced': labels {extreme} are on every training row or on none")
    return (negatives / positives).tolist()


def _as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


__all__ = [
    "BALANCED",
    "MULTI_LABEL",
    "PROBLEM_TYPES",
    "REGRESSION",
    "SINGLE_LABEL",
    "check_label_smoothing",
    "check_problem_type",
    "compute_loss",
    "CONFIG_FIELDS",
    "apply_fields",
    "config_fields",
    "fields_of",
    "decide",
    "decision_names",
    "decision_thresholds",
    "label_dtype",
    "label_names_of",
    "mean_loss",
    "output_scores",
    "predict",
    "problem_type_of",
    "reads_text_pairs",
    "resolve_class_weights",
    "set_decision_thresholds",
]
