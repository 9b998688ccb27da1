"""Evaluation order and the loss of several processes."""

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import PretrainedConfig
from transformers.trainer_pt_utils import LabelSmoother

from modeling import problem_types
from training.trainer import restore_order, sort_by_length


def test_sorting_by_length_is_undone_exactly():
    dataset = Dataset.from_dict({"length": [5, 2, 9, 2, 7], "row": [0, 1, 2, 3, 4]})
    ordered, order = sort_by_length(dataset)
    assert ordered["length"] == [2, 2, 5, 7, 9]
    outputs = np.asarray(ordered["row"]) * 10  # a per-row output computed on the sorted rows
    assert restore_order(outputs, order).tolist() == [0, 10, 20, 30, 40]


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_the_gathered_evaluation_loss_is_the_single_process_loss(smoothing):
    """Several processes recompute the loss from gathered logits: it must equal what one process reports
    (the model's cross-entropy, or transformers' LabelSmoother with label_smoothing_factor)."""
    generator = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(13, 4, generator=generator) * 3, torch.randint(0, 4, (13,), generator=generator)
    if smoothing:
        expected = LabelSmoother(epsilon=smoothing)({"logits": logits}, labels).item()
    else:
        expected = torch.nn.functional.cross_entropy(logits, labels).item()
    config = PretrainedConfig(**problem_types.config_fields(problem_types.SINGLE_LABEL, list("abcd")))
    gathered = problem_types.mean_loss(config, logits.numpy(), labels.numpy(), smoothing)
    assert gathered == pytest.approx(expected, rel=1e-6)
