"""Evaluation order."""

import numpy as np
from datasets import Dataset

from training.trainer import restore_order, sort_by_length


def test_sorting_by_length_is_undone_exactly():
    dataset = Dataset.from_dict({"length": [5, 2, 9, 2, 7], "row": [0, 1, 2, 3, 4]})
    ordered, order = sort_by_length(dataset)
    assert ordered["length"] == [2, 2, 5, 7, 9]
    outputs = np.asarray(ordered["row"]) * 10  # a per-row output computed on the sorted rows
    assert restore_order(outputs, order).tolist() == [0, 10, 20, 30, 40]
