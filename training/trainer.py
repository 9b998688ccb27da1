"""The Trainer as this project uses it: length-grouped training, evaluation in the dataset's order."""

from __future__ import annotations

import logging

import numpy as np
import torch
from datasets import Dataset
from torch.utils.data import SequentialSampler
from transformers import Trainer

logger = logging.getLogger(__name__)


class ClassificationTrainer(Trainer):
    """A Trainer whose evaluation and prediction keep rows in order.

    With train_sampling_strategy="group_by_length", transformers also shuffles evaluation batches by
    length, so `predict()` would return predictions in another order than the rows they belong to.
    Evaluation sets are instead sorted by length once (see `sort_by_length`) and read sequentially.
    """

    def _get_eval_sampler(self, eval_dataset):
        if eval_dataset is None or self.args.world_size > 1:
            return None  # accelerate shards the dataset in order and gathers it back without duplicates
        return SequentialSampler(eval_dataset)

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ):
        """The Trainer's loop; under several processes the loss is taken from the gathered logits.

        accelerate tops up a process's last batch with rows from the start of the set. Their logits are
        dropped when gathering, but the Trainer's loss is a mean per batch and would still count them.
        """
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        loss_key = f"{metric_key_prefix}_loss"
        if self.args.world_size > 1 and output.label_ids is not None and loss_key in output.metrics:
            logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
            output.metrics[loss_key] = mean_cross_entropy(logits, output.label_ids, self.args.label_smoothing_factor)
        return output


def mean_cross_entropy(logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0) -> float:
    """The single-label classification loss the Trainer reports, each row counted once: cross-entropy, or with
    label_smoothing_factor its LabelSmoother's (1 - e) * NLL + e * mean over classes of -log p (torch's alike)."""
    return torch.nn.functional.cross_entropy(
        torch.as_tensor(np.asarray(logits), dtype=torch.float64),
        torch.as_tensor(np.asarray(labels), dtype=torch.long),
        label_smoothing=label_smoothing,
    ).item()


def sort_by_length(dataset: Dataset) -> tuple[Dataset, np.ndarray]:
    """Sort rows by token count (less padding per batch) and return the permutation to undo it.

    `restore_order(values, order)` puts per-row outputs of the sorted dataset back in the original order.
    """
    order = np.argsort(np.asarray(dataset["length"]), kind="stable")
    return dataset.select(order), order


def restore_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Inverse of `sort_by_length`'s permutation for an array of per-row outputs."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored
