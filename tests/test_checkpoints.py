"""Resume: only from a complete checkpoint, only with the settings it was trained with, and to the same bytes as a
run that was never interrupted (tiny GloVe runs with random 8-d vectors on made-up documents)."""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch.multiprocessing

import run_classification
from textcls_errors import TextclsError
from training.checkpoints import (
    SETTINGS_FILE,
    FractionalStepsFilter,
    checkpoint_problem,
    decide_resume,
    shared_resume_decision,
)

REPO = Path(__file__).resolve().parent.parent
STEPS_PER_EPOCH = 5  # 40 training rows, batches of 8
KILLED_RUN = """
import os, signal, sys
import transformers
import run_classification

class KillMidEpoch(transformers.TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == int(os.environ["KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)

trainer_init = run_classification.ClassificationTrainer.__init__
def init_with_kill(self, *args, **kwargs):
    trainer_init(self, *args, **kwargs)
    self.add_callback(KillMidEpoch())
run_classification.ClassificationTrainer.__init__ = init_with_kill
sys.exit(run_classification.cli())
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two topics in 40 training, 10 validation and 10 test rows."""
    folder = tmp_path_factory.mktemp("data")
    topics = {"space": "rocket orbit launch moon", "food": "recipe flour oven sugar"}
    for split, count in (("train", 40), ("validation", 10), ("test", 10)):
        rows = [
            {"text": f"the {topics[label].split()[i % 4]} and the {topics[label].split()[(i + 1) % 4]}", "label": label}
            for i, label in enumerate(["space", "food"] * (count // 2))
        ]
        pd.DataFrame(rows).to_csv(folder / f"{split}.csv", index=False)
    return folder


def arguments(data: Path, output_dir: Path, *overrides: str) -> list[str]:
    return (
        ["--model_type", "glove", "--word_vectors", "random", "--embedding_dim", "8", "--seed", "3"]
        + [f"--{split}_file={data / f'{split}.csv'}" for split in ("train", "validation", "test")]
        + ["--output_dir", str(output_dir), "--report_to", "none", "--learning_rate", "0.05"]
        + ["--per_device_train_batch_size", "8", "--warmup_steps", "0", "--num_train_epochs", "2"]
        + ["--embedding_projection", "false", *overrides]
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data) -> Path:
    """The reference: a 2-epoch run that nothing stopped (checkpoint-5 and checkpoint-10)."""
    output_dir = tmp_path_factory.mktemp("uninterrupted") / "out"
    run_classification.main(arguments(data, output_dir))
    return output_dir


def copy_run(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / "out"))


class RecordingHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def assert_same_result(run: Path, reference: Path) -> None:
    for name in ("model.safetensors", "predictions.csv"):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_run_killed_mid_epoch_resumes_to_the_same_bytes(tmp_path, data, uninterrupted):
    output_dir = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, *arguments(data, output_dir)],
        env=dict(os.environ, PYTHONPATH=str(REPO), KILL_AT_STEP=str(STEPS_PER_EPOCH + 2)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == [f"checkpoint-{STEPS_PER_EPOCH}"]
    assert not (output_dir / "model.safetensors").exists()

    warnings = RecordingHandler()
    trainer_utils_logger = logging.getLogger("transformers.trainer_utils")  # it does not propagate to caplog's
    trainer_utils_logger.addHandler(warnings)
    try:
        run_classification.main(arguments(data, output_dir))  # the same command again
    finally:
        trainer_utils_logger.removeHandler(warnings)
    assert_same_result(output_dir, uninterrupted)
    # transformers compared the default logging_steps 0.02 (2 % of the steps) with the step count it stands for
    assert not [record for record in warnings.records if "logging_steps" in record.getMessage()]
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == 2 * STEPS_PER_EPOCH


def test_a_cut_newest_checkpoint_is_skipped_for_the_older_one(tmp_path, data, uninterrupted, caplog):
    output_dir = copy_run(uninterrupted, tmp_path)
    for name in ("model.safetensors", "predictions.csv", "all_results.json"):
        (output_dir / name).unlink()
    newest = output_dir / f"checkpoint-{2 * STEPS_PER_EPOCH}"
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a kill while it was written

    caplog.set_level(logging.INFO)
    run_classification.main(arguments(data, output_dir))
    assert f"Skipping {newest}: it is incomplete (model.safetensors is cut or corrupt" in caplog.text
    assert f"Resuming from {output_dir / f'checkpoint-{STEPS_PER_EPOCH}'}" in caplog.text
    assert_same_result(output_dir, uninterrupted)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda folder: (folder / "trainer_state.json").unlink(), "trainer_state.json is missing"),
        (lambda folder: (folder / "trainer_state.json").write_text('{"global_step": 1'), "trainer_state.json is"),
        (lambda folder: (folder / "optimizer.pt").write_bytes(b"PK\x03\x04"), "optimizer.pt is cut or corrupt"),
        (lambda folder: (folder / "model.safetensors").unlink(), "it holds no weights"),
        (lambda folder: (folder / "scheduler.pt").unlink(), "scheduler.pt is missing"),
    ],
)
def test_an_incomplete_checkpoint_is_named_and_the_older_one_chosen(tmp_path, uninterrupted, caplog, damage, problem):
    output_dir = copy_run(uninterrupted, tmp_path)
    newest, older = output_dir / f"checkpoint-{2 * STEPS_PER_EPOCH}", output_dir / f"checkpoint-{STEPS_PER_EPOCH}"
    settings = json.loads((older / SETTINGS_FILE).read_text())
    assert checkpoint_problem(newest) is None
    damage(newest)
    assert problem in checkpoint_problem(newest)
    with caplog.at_level(logging.WARNING):
        assert decide_resume(str(output_dir), None, settings).checkpoint == str(older)
    assert f"Skipping {newest}: it is incomplete ({problem}" in caplog.text


def test_resuming_with_another_learning_rate_stops_and_names_it(tmp_path, data, uninterrupted):
    output_dir = copy_run(uninterrupted, tmp_path)
    shutil.rmtree(output_dir / f"checkpoint-{2 * STEPS_PER_EPOCH}")  # an unfinished run: only epoch 1 saved
    before = (output_dir / "all_results.json").read_text()
    with pytest.raises(TextclsError) as error:
        run_classification.main(arguments(data, output_dir, "--learning_rate", "0.01", "--num_train_epochs", "3"))
    message = str(error.value)
    assert "Changed: learning_rate: 0.05 -> 0.01; num_train_epochs: 2.0 -> 3.0." in message
    assert "another output_dir" in message and f"resume_from_checkpoint {output_dir / 'checkpoint-5'}" in message
    assert (output_dir / "all_results.json").read_text() == before  # nothing was touched


def test_an_edited_training_file_counts_as_a_change(tmp_path, data, uninterrupted):
    output_dir = copy_run(uninterrupted, tmp_path)
    edited = Path(shutil.copytree(data, tmp_path / "data"))
    with (edited / "train.csv").open("a") as file:
        file.write("the moon and the rocket,space\n")
    with pytest.raises(TextclsError, match=r"Changed: train_file: \"sha256:"):
        run_classification.main(arguments(edited, output_dir))


def test_an_explicit_checkpoint_resumes_with_other_settings_and_a_warning(tmp_path, uninterrupted, caplog):
    older = uninterrupted / f"checkpoint-{STEPS_PER_EPOCH}"
    settings = dict(json.loads((older / SETTINGS_FILE).read_text()), learning_rate=0.01)
    with caplog.at_level(logging.WARNING):
        assert decide_resume(str(tmp_path / "elsewhere"), str(older), settings).checkpoint == str(older)
    assert "settings other than it was trained with" in caplog.text and "learning_rate: 0.05 -> 0.01" in caplog.text

    damaged = copy_run(uninterrupted, tmp_path) / f"checkpoint-{STEPS_PER_EPOCH}"
    (damaged / "trainer_state.json").unlink()
    decision = decide_resume(str(tmp_path), str(damaged), settings)
    assert decision.checkpoint is None and "trainer_state.json is missing" in decision.error


def test_rerunning_a_finished_run_refuses_and_keeps_its_results(tmp_path, data, uninterrupted):
    output_dir = copy_run(uninterrupted, tmp_path)
    before = (output_dir / "all_results.json").read_text()
    assert json.loads(before)["train_loss"] > 0
    with pytest.raises(TextclsError) as error:
        run_classification.main(arguments(data, output_dir))
    message = str(error.value)
    assert f"holds a finished run (checkpoint-10 ended its training): its results are in {output_dir}" in message
    assert f"give {output_dir} as model_name_or_path with do_train false" in message
    assert (output_dir / "all_results.json").read_text() == before

    # killed after training, before the final model and results were written: evaluate the best checkpoint
    for name in ("all_results.json", "config.json", "model.safetensors"):
        (output_dir / name).unlink()
    best = json.loads((output_dir / "checkpoint-10" / "trainer_state.json").read_text())["best_model_checkpoint"]
    with pytest.raises(TextclsError) as error:
        run_classification.main(arguments(data, output_dir))
    assert f"stopped before writing its final model and results. To evaluate it, give {best} as" in str(error.value)


def test_the_fractional_logging_steps_warning_is_dropped_and_real_mismatches_kept():
    def filtered(message: str) -> str | None:
        record = logging.LogRecord("transformers.trainer_utils", logging.WARNING, "", 0, message, None, None)
        return record.msg if FractionalStepsFilter().filter(record) else None

    head = "Warning: The following arguments do not match the ones in the `trainer_state.json` within the checkpoint"
    assert filtered(head + "\n\tlogging_steps: 0.02 (from args) != 1 (from trainer_state.json)") is None
    both = filtered(
        head + "\n\tlogging_steps: 0.02 (from args) != 1 (from trainer_state.json)"
        "\n\tsave_steps: 50 (from args) != 20 (from trainer_state.json)"
    )
    assert both == head + "\n\tsave_steps: 50 (from args) != 20 (from trainer_state.json)"


def share_decision(rank: int, folders: list[str], settings: dict, results: str) -> None:
    """One of two gloo processes: each looks at its own folder, but all must act on the main process's view."""
    import torch.distributed

    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{results}/rendezvous", rank=rank, world_size=len(folders)
    )
    decision = shared_resume_decision(folders[rank], None, settings)
    Path(results, f"rank{rank}.json").write_text(json.dumps([decision.checkpoint, decision.error]))
    torch.distributed.destroy_process_group()


def test_every_process_acts_on_the_main_process_decision(tmp_path, uninterrupted):
    """Rank 1 sees no checkpoint (say, another node's disk) yet resumes the one rank 0 chose, or stops with it."""
    runs = copy_run(uninterrupted, tmp_path)
    shutil.rmtree(runs / f"checkpoint-{2 * STEPS_PER_EPOCH}")
    older = runs / f"checkpoint-{STEPS_PER_EPOCH}"
    settings = json.loads((older / SETTINGS_FILE).read_text())
    empty = tmp_path / "empty"
    empty.mkdir()
    for case, case_settings in (("same", settings), ("changed", dict(settings, seed=4))):
        results = tmp_path / case
        results.mkdir()
        args = ([str(runs), str(empty)], case_settings, str(results))
        torch.multiprocessing.start_processes(share_decision, args=args, nprocs=2, start_method="fork")
        decisions = [json.loads((results / f"rank{rank}.json").read_text()) for rank in (0, 1)]
        assert decisions[0] == decisions[1]
        if case == "same":
            assert decisions[1] == [str(older), None]
        else:
            assert decisions[1][0] is None and "Changed: seed: 3 -> 4" in decisions[1][1]
