"""The Trainer as this project uses it: one loss for every model family, length-grouped training, evaluation in
the dataset's order."""

from __future__ import annotations

import logging

import numpy as np
from datasets import Dataset
from torch.utils.data import SequentialSampler
from transformers import Trainer

from modeling import problem_types

logger = logging.getLogger(__name__)


class ClassificationTrainer(Trainer):
    """A Trainer whose loss is `problem_types.compute_loss` and whose evaluation and prediction keep rows in order.

    The loss is computed here, not by the model, so that every family (BERT & co. with a linear or MLP head, LoRA,
    GloVe, RNN) trains with the same one: class weights and `pos_weight` from the config, and the run's
    `label_smoothing_factor` (transformers' own LabelSmoother is single-label only). It is a mean over the batch.

    With train_sampling_strategy="group_by_length", transformers also shuffles evaluation batches by
    length, so `predict()` would return predictions in another order than the rows they belong to.
    Evaluation sets are instead sorted by length once (see `sort_by_length`) and read sequentially.
    """

    loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides it by the accumulation steps

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's logits scored by `problem_types.compute_loss`; without labels, the model's own output."""
        if "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        config = self.accelerator.unwrap_model(model).config  # a PeftModel answers with its base model's config
        loss = problem_types.compute_loss(config, logits, labels, self.args.label_smoothing_factor)
        return (loss, outputs) if return_outputs else loss

    def _get_eval_sampler(self, eval_dataset):
        if eval_dataset is None or self.args.world_size > 1:
            return None  # accelerate shards the dataset in order and gathers it back without duplicates
        return SequentialSampler(eval_dataset)

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ):
        """The Trainer's loop; under several processes the loss is computed again from the gathered logits.

        accelerate tops up a process's last batch with rows from the start of the set. Their logits are
        dropped when gathering, but the Trainer's loss is a mean per batch and would still count them.
        """
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        loss_key = f"{metric_key_prefix}_loss"
        if self.args.world_size > 1 and output.label_ids is not None and loss_key in output.metrics:
            logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
            config = self.accelerator.unwrap_model(self.model).config
            output.metrics[loss_key] = problem_types.mean_loss(
                config, logits, output.label_ids, self.args.label_smoothing_factor
            )
        return output


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
