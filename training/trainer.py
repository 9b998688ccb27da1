"""The Trainer as this project uses it: length-grouped training, evaluation in the dataset's order."""

from __future__ import annotations

import logging
import os

import numpy as np
from datasets import Dataset
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


def checkpoint_to_resume(output_dir: str, resume_from_checkpoint: str | None, do_train: bool) -> str | None:
    """The checkpoint training continues from: the one asked for, else the last one in output_dir."""
    if resume_from_checkpoint or not do_train or not os.path.isdir(output_dir):
        return resume_from_checkpoint
    last = get_last_checkpoint(output_dir)
    if last is not None:
        logger.info("Resuming from %s (delete %s to start afresh).", last, output_dir)
    return last
