"""What lands in output_dir after the test split is predicted: reports, figures and per-row predictions.

`write_test_reports` writes what the problem type has (see its docstring); the functions it calls take plain
arrays and lists.

Every function takes plain arrays and lists, so it can be tested and reused without a model. Figures
are drawn on `matplotlib.figure.Figure` objects, which render with Agg without touching pyplot's global
state: nothing needs a display, and nothing stays open after the file is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    classification_report,
    multilabel_confusion_matrix,
)

from modeling import problem_types
from modeling.problem_types import LABEL_SET_SEPARATOR, MULTI_LABEL, SINGLE_LABEL
from textcls_errors import TextclsError
from training.metrics import regression_metrics

# Cell values are printed up to this many classes; beyond it they would not fit in a cell.
MAX_ANNOTATED_CLASSES = 20
SCATTER_FIGURE = "predictions_scatter.png"
# predictions.csv is written this many rows at a time: the texts of a large test split are never all in memory.
CSV_CHUNK_ROWS = 10_000
# The evaluation curves drawn when the history has them (each problem type logs its own).
CURVE_METRICS = {
    "accuracy": "eval accuracy",
    "macro_f1": "eval macro-F1",
    "micro_f1": "eval micro-F1",
    "jaccard": "eval Jaccard",
    "pearson": "eval Pearson",
    "spearman": "eval Spearman",
}


def write_test_reports(
    output_dir: str | Path,
    config,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None,
    gold: np.ndarray | None,
    logits: np.ndarray,
) -> list[Path]:
    """Everything the test split's predictions give, for the model's problem type (`config`):

    - single-label: predictions.csv (gold, predicted, prob_<class>), classification_report.json/.txt,
      confusion_matrix.png;
    - multi-label: predictions.csv (gold and predicted label sets, prob_<label>), the per-label
      classification_report, confusion_matrix.png as a grid of one 2x2 matrix per label;
    - regression: predictions.csv (gold, predicted) and predictions_scatter.png.
    """
    output_dir = Path(output_dir)
    names = problem_types.label_names_of(config)
    scores = problem_types.output_scores(config, logits)
    decisions = problem_types.decide(config, scores)
    problem_type = problem_types.problem_type_of(config)
    predictions = output_dir / "predictions.csv"
    if problem_type == SINGLE_LABEL:
        written = [write_predictions(predictions, texts, gold, scores, names, text_pairs)]
        if gold is not None:
            written += write_classification_report(output_dir, gold, decisions, names)
            written.append(plot_confusion_matrix(output_dir / "confusion_matrix.png", gold, decisions, names))
        return written
    if problem_type == MULTI_LABEL:
        written = [write_multi_label_predictions(predictions, texts, gold, scores, decisions, names, text_pairs)]
        if gold is not None:
            written += write_classification_report(output_dir, gold, decisions, names)
            written.append(plot_multi_label_confusion(output_dir / "confusion_matrix.png", gold, decisions, names))
        return written
    written = [write_regression_predictions(predictions, texts, gold, decisions, text_pairs)]
    if gold is not None:
        written.append(plot_regression_scatter(output_dir / SCATTER_FIGURE, gold, decisions, names[0]))
    return written


def write_classification_report(
    output_dir: str | Path, y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]
) -> tuple[Path, Path]:
    """Per-class precision/recall/F1/support keyed by class name, as JSON and as sklearn's text table; 0/1 matrices
    (multi-label) give one row per label, with micro/macro/weighted/samples averages."""
    label_names = list(label_names)
    if np.ndim(y_true) == 2:
        y_true = _check_label_matrix("y_true", y_true, len(label_names))
        y_pred = _check_label_matrix("y_pred", y_pred, len(label_names), expected_length=len(y_true))
    else:
        y_true = _check_labels("y_true", y_true, len(label_names))
        y_pred = _check_labels("y_pred", y_pred, len(label_names), expected_length=len(y_true))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Every class gets a row, including those missing from a small test sample.
    kwargs = dict(labels=list(range(len(label_names))), target_names=label_names, zero_division=0)
    if y_true.ndim == 2:
        del kwargs["labels"]  # an indicator matrix names its labels by column
    report = classification_report(y_true, y_pred, output_dict=True, **kwargs)
    json_path = output_dir / "classification_report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    txt_path = output_dir / "classification_report.txt"
    txt_path.write_text(classification_report(y_true, y_pred, digits=4, **kwargs), encoding="utf-8")
    return json_path, txt_path


def plot_confusion_matrix(
    path: str | Path, y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]
) -> Path:
    """Row-normalised confusion matrix (each row is the recall of one true class), saved as a PNG."""
    label_names = list(label_names)
    n_classes = len(label_names)
    y_true = _check_labels("y_true", y_true, n_classes)
    y_pred = _check_labels("y_pred", y_pred, n_classes, expected_length=len(y_true))
    annotate = n_classes <= MAX_ANNOTATED_CLASSES

    # The matrix keeps ~0.5 inch per class; the margins grow with the longest name so none is clipped.
    label_inches = 0.07 * max(len(name) for name in label_names)
    side = max(3.0, 0.5 * n_classes)
    fig = Figure(figsize=(side + label_inches + 1.8, side + label_inches + 1.0), layout="constrained")
    ax = fig.add_subplot()
    display = ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=list(range(n_classes)),
        normalize="true",
        display_labels=label_names,
        include_values=annotate,
        values_format=".2f",
        cmap="Blues",
        ax=ax,
        colorbar=False,
        im_kw={"vmin": 0.0, "vmax": 1.0},  # the same colour means the same recall in every run
        text_kw={"fontsize": 8 if n_classes > 10 else 10},
    )
    if annotate:
        # Blank cells read faster than a grid of "0.00"; only the confusions that happened stand out.
        for text, value in zip(display.text_.ravel(), display.confusion_matrix.ravel(), strict=True):
            if value == 0:
                text.set_text("")
    # A colorbar as tall as the matrix itself (a layout-placed one spans the label margins too).
    fig.colorbar(display.im_, cax=ax.inset_axes([1.0 + 0.15 / side, 0.0, 0.2 / side, 1.0]), label="recall")
    # Rotated names anchored at their end sit under their own column instead of straddling two.
    for label in ax.get_xticklabels():
        label.set(rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    accuracy = accuracy_score(y_true, y_pred)
    ax.set_title(f"Confusion matrix, normalised by true class\naccuracy {accuracy:.4f} on {len(y_true)} examples")
    return _save(fig, path)


def plot_training_curves(path: str | Path, log_history: list[dict]) -> Path | None:
    """Loss (train and eval) and eval accuracy / macro-F1 by epoch from `trainer.state.log_history`.

    Returns None, writing nothing, when the history holds no loss and no eval metric at all.
    """
    panels = training_curves(log_history)
    if not panels:
        return None

    fig = Figure(figsize=(6.0 * len(panels), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, lines) in zip(axes, panels.items(), strict=True):
        for name, points in lines.items():
            epochs, values = zip(*points, strict=True)
            # Evaluations are few (one per epoch) and a lone point has no line to show it: both get markers.
            marker = "o" if name != "training loss" or len(points) == 1 else None
            ax.plot(epochs, values, marker=marker, label=name)
        ax.set(title=title, xlabel="epoch")
        ax.set_xlim(left=0)  # training starts at epoch 0; also widens the axis around a lone point
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def training_curves(log_history: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """The (epoch, value) series to plot, by panel then line; panels and lines without points are left out."""
    train = [(entry["epoch"], entry["loss"]) for entry in log_history if "loss" in entry and "epoch" in entry]
    # A final `trainer.evaluate()` logs again at the last epoch (with load_best_model_at_end, the best
    # checkpoint's scores): keep the first evaluation of each epoch so the curve shows the epochs as trained.
    evaluations: dict[float, dict] = {}
    for entry in log_history:
        if "epoch" in entry and any(key.startswith("eval_") for key in entry):
            evaluations.setdefault(entry["epoch"], entry)
    evals = [evaluations[epoch] for epoch in sorted(evaluations)]

    def series(key: str) -> list[tuple[float, float]]:
        return [(entry["epoch"], entry[key]) for entry in evals if key in entry]

    panels = {
        "Loss": {"training loss": train, "eval loss": series("eval_loss")},
        "Evaluation": {title: series(f"eval_{metric}") for metric, title in CURVE_METRICS.items()},
    }
    # Plot what exists: a run without evaluation gets the loss panel alone.
    panels = {title: {name: points for name, points in lines.items() if points} for title, lines in panels.items()}
    return {title: lines for title, lines in panels.items() if lines}


def write_predictions(
    path: str | Path,
    texts: Sequence[str],
    y_true: Sequence[int] | None,
    probabilities: np.ndarray,
    label_names: Sequence[str],
    text_pairs: Sequence[str] | None = None,
) -> Path:
    """One row per text: gold and predicted class names, then one `prob_<class>` column per class (after
    `text_pair` when the model reads pairs). `texts` (and `text_pairs`) need only a length and slices."""
    label_names = list(label_names)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(label_names):
        raise TextclsError(
            f"probabilities must have shape (n_texts, n_classes) with n_classes = {len(label_names)} "
            f"label names, got shape {probabilities.shape}"
        )
    if len(texts) != len(probabilities):
        raise TextclsError(f"texts has {len(texts)} rows but probabilities has {len(probabilities)}")
    names = np.asarray(label_names, dtype=object)
    if y_true is None:
        gold = np.full(len(texts), "", dtype=object)  # unlabelled test set
    else:
        gold = names[_check_labels("y_true", y_true, len(label_names), expected_length=len(texts))]
    predicted = names[probabilities.argmax(axis=1)]

    def rows(chunk: slice) -> pd.DataFrame:
        frame = _text_frame(texts, text_pairs, chunk)
        frame["gold"], frame["predicted"] = gold[chunk], predicted[chunk]
        for i, name in enumerate(label_names):
            frame[f"prob_{name}"] = probabilities[chunk, i].round(6)
        return frame

    return _write_csv(path, len(texts), rows)


def write_multi_label_predictions(
    path: str | Path,
    texts: Sequence[str],
    y_true: np.ndarray | None,
    scores: np.ndarray,
    decisions: np.ndarray,
    label_names: Sequence[str],
    text_pairs: Sequence[str] | None = None,
) -> Path:
    """One row per text: gold and predicted label sets ("joy|love", "" for none), then `prob_<label>` per label."""
    label_names = list(label_names)
    scores = np.asarray(scores, dtype=np.float64)
    decisions = _check_label_matrix("decisions", decisions, len(label_names), expected_length=len(scores))
    if len(texts) != len(scores):
        raise TextclsError(f"texts has {len(texts)} rows but scores has {len(scores)}")
    gold = None if y_true is None else _check_label_matrix("y_true", y_true, len(label_names), len(texts))

    def rows(chunk: slice) -> pd.DataFrame:
        frame = _text_frame(texts, text_pairs, chunk)
        frame["gold"] = "" if gold is None else label_sets(gold[chunk], label_names)
        frame["predicted"] = label_sets(decisions[chunk], label_names)
        for i, name in enumerate(label_names):
            frame[f"prob_{name}"] = scores[chunk, i].round(6)
        return frame

    return _write_csv(path, len(texts), rows)


def write_regression_predictions(
    path: str | Path,
    texts: Sequence[str],
    y_true: Sequence[float] | None,
    predicted: Sequence[float],
    text_pairs: Sequence[str] | None = None,
) -> Path:
    """One row per text: the gold value (empty when unlabelled) and the predicted one."""
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    if len(texts) != len(predicted):
        raise TextclsError(f"texts has {len(texts)} rows but predicted has {len(predicted)}")
    gold = np.full(len(texts), np.nan) if y_true is None else np.asarray(y_true, dtype=np.float64)

    def rows(chunk: slice) -> pd.DataFrame:
        frame = _text_frame(texts, text_pairs, chunk)
        frame["gold"], frame["predicted"] = gold[chunk], predicted[chunk].round(6)
        return frame

    return _write_csv(path, len(texts), rows)


def label_sets(matrix: np.ndarray, label_names: Sequence[str]) -> list[str]:
    """Rows of a 0/1 matrix as label sets in text, "joy|love" ("" for none)."""
    return [LABEL_SET_SEPARATOR.join(label_names[i] for i in np.flatnonzero(row)) for row in np.asarray(matrix)]


def plot_multi_label_confusion(
    path: str | Path, y_true: np.ndarray, y_pred: np.ndarray, label_names: Sequence[str]
) -> Path:
    """One 2x2 confusion matrix per label (sklearn's `multilabel_confusion_matrix`), in a grid, each normalised by
    its true rows (recall of "absent" and of "present") with the counts beside."""
    label_names = list(label_names)
    y_true = _check_label_matrix("y_true", y_true, len(label_names))
    y_pred = _check_label_matrix("y_pred", y_pred, len(label_names), expected_length=len(y_true))
    matrices = multilabel_confusion_matrix(y_true, y_pred)
    columns = min(4, len(label_names))
    rows = -(-len(label_names) // columns)
    fig = Figure(figsize=(2.6 * columns + 0.8, 2.5 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, name, counts in zip(axes, label_names, matrices, strict=False):
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts, dtype=float), where=totals > 0)
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        for (i, j), count in np.ndenumerate(counts):
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, f"{shares[i, j]:.2f}\n({count})", ha="center", va="center", fontsize=8, color=colour)
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["no", "yes"], yticklabels=["no", "yes"])
        ax.set_title(f"{name} ({int(counts[1].sum())} true)", fontsize=9)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    for ax in axes[len(label_names) :]:
        ax.set_axis_off()
    fig.colorbar(image, ax=axes.tolist(), shrink=0.6, label="share of the true row")
    exact = accuracy_score(y_true, y_pred)
    fig.suptitle(f"Per-label confusion on {len(y_true)} examples (all labels right: {exact:.3f})")
    return _save(fig, path)


def plot_regression_scatter(path: str | Path, y_true: Sequence[float], y_pred: Sequence[float], name: str) -> Path:
    """Predicted against gold values, with the diagonal of perfect predictions and the correlations in the title."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64).ravel()
    metrics = regression_metrics(y_true, y_pred)
    fig = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(y_true, y_pred, s=8, alpha=0.4, edgecolors="none")
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="predicted = gold")
    ax.set(xlabel=f"gold {name}", ylabel=f"predicted {name}", aspect="equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(
        f"{len(y_true)} test examples: Pearson {metrics['pearson']:.3f}, Spearman {metrics['spearman']:.3f}, "
        f"RMSE {metrics['rmse']:.3f}",
        fontsize=9,
    )
    return _save(fig, path)


def _text_frame(texts: Sequence[str], text_pairs: Sequence[str] | None, chunk: slice) -> pd.DataFrame:
    frame = pd.DataFrame({"text": list(texts[chunk])})
    if text_pairs is not None:
        frame["text_pair"] = list(text_pairs[chunk])
    return frame


def _write_csv(path: str | Path, n_rows: int, rows: Callable[[slice], pd.DataFrame]) -> Path:
    """Write `rows(chunk)` for successive chunks of CSV_CHUNK_ROWS rows, the header once: the same bytes as one
    frame of all rows, without holding them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for start in range(0, n_rows, CSV_CHUNK_ROWS) or [0]:  # no rows: the header alone
            # QUOTE_MINIMAL (pandas' default) quotes any text holding a comma, quote or newline.
            rows(slice(start, start + CSV_CHUNK_ROWS)).to_csv(handle, index=False, header=start == 0)
    return path


def _check_labels(name: str, values: Sequence[int], n_classes: int, expected_length: int | None = None) -> np.ndarray:
    """Class ids as an int array, or a TextclsError naming the argument when they cannot index label_names."""
    if n_classes == 0:
        raise TextclsError("label_names is empty: expected one name per class")
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise TextclsError(
            f"{name} must be a 1-D sequence of integer class ids, got {array.dtype} of shape {array.shape}"
        )
    if expected_length is not None and len(array) != expected_length:
        raise TextclsError(f"{name} has {len(array)} entries, expected {expected_length} (one per text)")
    outside = array[(array < 0) | (array >= n_classes)]
    if outside.size:
        raise TextclsError(
            f"{name} holds class id {outside[0]}, outside 0..{n_classes - 1} for {n_classes} label names "
            "(an unlabelled split uses -1 and cannot be scored)"
        )
    return array.astype(np.int64)


def _check_label_matrix(name: str, values: np.ndarray, n_labels: int, expected_length: int | None = None) -> np.ndarray:
    """A 0/1 matrix with one column per label as ints, or a TextclsError naming the argument."""
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != n_labels or not np.isin(array, (0, 1)).all():
        raise TextclsError(f"{name} must be a 0/1 matrix with {n_labels} columns (one per label); got {array.shape}")
    if expected_length is not None and len(array) != expected_length:
        raise TextclsError(f"{name} has {len(array)} rows, expected {expected_length} (one per text)")
    return array.astype(np.int64)


def _save(fig: Figure, path: str | Path) -> Path:
    """Write a figure as a PNG, creating its folder; the canvas grows or shrinks to fit every label."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight", pad_inches=0.15)  # nothing clipped at the edges
    return path
