"""Pictures and tables for Weights & Biases, sent only when a run asked for W&B and one is open.

The Trainer's own `WandbCallback` opens the run (when `report_to` includes "wandb") and logs the scalar
metrics; this module adds what it does not: the t-SNE maps, the 3D page, a table of 2D coordinates (so W&B's
scatter and embedding-projector panels work) and the test confusion matrix. wandb is optional: without it,
or without an open run, every function here does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SNIPPET_CHARACTERS = 200  # texts in the table are cut to this length: enough to recognise a document


def wandb_requested(report_to: Sequence[str] | str | None) -> bool:
    """Whether TrainingArguments.report_to asks for W&B ("all" included)."""
    if report_to is None:
        return False
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    return "wandb" in names or "all" in names


def active_run():
    """The open W&B run, or None when wandb is not installed or no run was started."""
    try:
        import wandb
    except ImportError:
        return None
    return wandb.run


def log_projection(
    run,
    stage: str,
    png: Path | None,
    coords: np.ndarray | None,
    labels: Sequence[int],
    predictions: Sequence[int],
    texts: Sequence[str],
    label_names: Sequence[str],
    step: int,
    html: Path | None = None,
) -> None:
    """The map of one stage ("before", "after", "step") as an image, a table of points and the 3D page."""
    import wandb

    payload = {"train/global_step": step}  # the x axis transformers' WandbCallback uses
    if png is not None:
        caption = "t-SNE before (left) and after training" if stage == "after" else f"t-SNE, {stage} {step}"
        payload[f"embedding/tsne_{stage}"] = wandb.Image(str(png), caption=caption)
    if coords is not None:
        payload[f"embedding/points_{stage}"] = projection_table(coords, labels, predictions, texts, label_names)
    if html is not None:
        payload[f"embedding/tsne_3d_{stage}"] = wandb.Html(str(html), inject=False)
    run.log(payload)


def projection_table(
    coords: np.ndarray,
    labels: Sequence[int],
    predictions: Sequence[int],
    texts: Sequence[str],
    label_names: Sequence[str],
):
    """One row per document: x, y, true and predicted class, whether it was right, and the start of its text."""
    import wandb

    rows = [
        [
            float(x),
            float(y),
            label_names[label],
            label_names[predicted],
            bool(label == predicted),
            " ".join(text.split())[:SNIPPET_CHARACTERS],
        ]
        for (x, y), label, predicted, text in zip(coords[:, :2], labels, predictions, texts, strict=True)
    ]
    return wandb.Table(columns=["x", "y", "label", "prediction", "correct", "text"], data=rows)


def log_confusion_matrix(run, y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> None:
    """W&B's interactive confusion matrix of the test predictions."""
    import wandb

    chart = wandb.plot.confusion_matrix(
        y_true=[int(label) for label in y_true],
        preds=[int(label) for label in y_pred],
        class_names=list(label_names),
        title="Test confusion matrix",
    )
    run.log({"test/confusion_matrix": chart})
