"""The Trainer as this project uses it: length-grouped training, evaluation in the dataset's order."""

from __future__ import annotations

import logging
import os

import numpy as np
from datasets import Dataset
from scipy.special import log_softmax
from torch.utils.data import SequentialSampler
from transformers import Trainer
from transformers.trainer_utils import get_last_checkpoint

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
            output.metrics[loss_key] = mean_cross_entropy(logits, output.label_ids)
        return output


def mean_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """The classification loss of BertForSequenceClassification (single label), each row counted once."""
    log_probabilities = log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def sort_by_length(dataset: Dataset) -> tuple[Dataset, np.ndarray]:
    """Sort rows by token count (less padding per batch) and return the permutation to undo it.

    `restore_order(values, order)` puts per-row outputs of the sorted dataset back in the original order.
    """
    # read through Arrow: np.asarray(dataset["length"]) fetches a datasets Column row by row (200 µs a row)
    order = np.argsort(dataset.with_format("arrow")["length"].to_numpy(), kind="stable")
    return dataset.select(order), order


def restore_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Inverse of `sort_by_length`'s permutation for an array of per-row outputs."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored


def checkpoint_to_resume(output_dir: str, resume_from_checkpoint: str | None, do_train: bool) -> str | None:
    """The checkpoint training continues from: the one asked for, else the last one in output_dir."""
    if resume_from_checkpoint or not do_train or not os.path.isdir(output_dir):
        return resume_from_checkpoint
    last = get_last_checkpoint(output_dir)
    if last is not None:
        logger.info("Resuming from %s (delete %s to start afresh).", last, output_dir)
    return last
