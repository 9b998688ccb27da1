"""Evaluation order and checkpoint discovery."""

import numpy as np
from datasets import Dataset

from training.trainer import checkpoint_to_resume, restore_order, sort_by_length


def test_sorting_by_length_is_undone_exactly():
    dataset = Dataset.from_dict({"length": [5, 2, 9, 2, 7], "row": [0, 1, 2, 3, 4]})
    ordered, order = sort_by_length(dataset)
    assert ordered["length"] == [2, 2, 5, 7, 9]
    outputs = np.asarray(ordered["row"]) * 10  # a per-row output computed on the sorted rows
    assert restore_order(outputs, order).tolist() == [0, 10, 20, 30, 40]


def test_last_checkpoint_is_found(tmp_path):
    for step in (5, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert checkpoint_to_resume(str(tmp_path), None, do_train=True).endswith("checkpoint-10")
    assert checkpoint_to_resume(str(tmp_path), "explicit", do_train=True) == "explicit"
    assert checkpoint_to_resume(str(tmp_path / "absent"), None, do_train=True) is None
