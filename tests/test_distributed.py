"""Two real processes on the CPU (`accelerate launch --config_file configs/accelerate/cpu_ddp.yaml`), one launch
shared by the tests: every document evaluated once, the same numbers as one process, only the main process
writes, preprocessing done once; plus mixed precision on the CPU."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification
from transformers.utils import is_torch_bf16_gpu_available

import run_classification
from tests.test_run_classification import TOPICS, config_for, write_splits
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError
from training.arguments import parse_arguments

REPO = Path(__file__).resolve().parent.parent
VALIDATION, TEST = 45, 31  # odd: two processes cannot split them evenly, so a sampler would pad with duplicates


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 120, VALIDATION, TEST)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, csv_files):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", texts, num_labels=len(TOPICS))


@pytest.fixture(scope="module")
def launch(tmp_path_factory, csv_files, bert_dir):
    """Train, evaluate and predict with 2 processes; each lists the files it writes (tests/process_audit)."""
    root = tmp_path_factory.mktemp("ddp")
    audit = tmp_path_factory.mktemp("audit")  # outside root, so the lists do not list themselves
    config = config_for(
        root,
        bert_dir,
        csv_files,
        num_train_epochs=2,
        logging_steps=1,
        per_device_eval_batch_size=4,
        embedding_sample_size=VALIDATION,
        cache_dir=str(root / "cache"),
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "process_audit"), str(REPO)]),
        TEXTCLS_AUDIT_ROOT=str(root),
        TEXTCLS_AUDIT_DIR=str(audit),
    )
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
        + [str(REPO / "configs" / "accelerate" / "cpu_ddp.yaml"), str(REPO / "run_classification.py"), config],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-3000:]

    def changes(rank: int) -> list[str]:
        """The paths one process wrote, renamed or deleted, lock files left out (they are how processes wait)."""
        log = audit / f"rank-{rank}.tsv"
        lines = log.read_text().splitlines() if log.exists() else []
        return [line for line in lines if not line.endswith(".lock")]

    return SimpleNamespace(
        root=root, out=root / "out", config=config, stdout=launched.stdout, stderr=launched.stderr, changes=changes
    )


def test_every_process_announces_itself(launch):
    assert "process rank 0 of 2, device cpu" in launch.stdout
    assert "process rank 1 of 2, device cpu" in launch.stdout
    assert re.search(r"rank 1 INFO .*process rank 1 of 2", launch.stdout)  # lines say which process wrote them


def test_logged_loss_is_the_mean_not_times_the_processes(launch):
    """Before its first step an untrained 3-class model's loss is about ln 3; transformers' default doubled it."""
    history = json.loads((launch.out / "trainer_state.json").read_text())["log_history"]
    first = next(entry for entry in history if "loss" in entry)
    assert first["step"] == 1
    assert abs(first["loss"] - math.log(len(TOPICS))) < 0.25, first


def test_every_document_evaluated_once_with_one_process_numbers(launch, tmp_path, csv_files):
    results = json.loads((launch.out / "all_results.json").read_text())
    assert results["eval_samples"] == VALIDATION and results["test_samples"] == TEST
    predictions = pd.read_csv(launch.out / "predictions.csv")
    test = pd.read_csv(csv_files["test"])
    assert len(predictions) == TEST
    assert predictions["text"].tolist() == (test["headline"] + "\n" + test["body"]).tolist()  # the file's order
    assert predictions["gold"].tolist() == test["topic"].tolist()

    # The saved model evaluated again by one process on the same data gives the same numbers.
    single = tmp_path / "single"
    again = run_classification.main(
        [
            launch.config,
            "--model_name_or_path", str(launch.out),
            "--do_train", "false",
            "--output_dir", str(single),
            "--embedding_projection", "false",
        ]
    )  # fmt: skip
    for split in ("eval", "test"):
        for metric in ("accuracy", "macro_f1", "weighted_f1"):
            assert results[f"{split}_{metric}"] == again[f"{split}_{metric}"], (split, metric)
        assert results[f"{split}_loss"] == pytest.approx(again[f"{split}_loss"], abs=1e-5)
    probabilities = [column for column in predictions if column.startswith("prob_")]
    one_process = pd.read_csv(single / "predictions.csv")
    assert one_process["predicted"].tolist() == predictions["predicted"].tolist()
    np.testing.assert_allclose(one_process[probabilities], predictions[probabilities], atol=1e-5)


def test_only_the_main_process_writes_files(launch):
    """Reports, plots, checkpoints and caches come from rank 0 (each once); rank 1 writes nothing it can see.

    Files written from C++ (torch.save, safetensors) escape the audit; save_pretrained shows through config.json.
    """
    assert launch.changes(1) == []
    written = [line.split("\t")[1] for line in launch.changes(0) if line.startswith("write")]
    for name in ("predictions.csv", "confusion_matrix.png", "training_curves.png", "embedding_separation.json"):
        assert written.count(str(launch.out / name)) == 1, name
    assert str(launch.out / "config.json") in written

    record = json.loads((launch.out / "embedding_separation.json").read_text())
    assert record["documents"] == VALIDATION  # the whole sample, not one process's share
    assert [entry["stage"] for entry in record["history"]] == ["before", "after"]
    assert launch.stdout.count(f"class separation of {VALIDATION} validation documents") == 1
    results = json.loads((launch.out / "all_results.json").read_text())
    assert results["embedding_knn_accuracy_after"] == record["embedding_knn_accuracy_after"]


def test_preprocessing_runs_once_and_the_other_process_reads_its_cache(launch):
    maps = launch.root / "cache" / "textcls_maps"
    tokenized = [
        Path(line.split("\t")[-1].split(" -> ")[-1]).name.split("-")[0]
        for line in launch.changes(0)
        if line.startswith("rename") and str(maps) in line
    ]
    assert sorted(tokenized) == ["test", "train", "validation"]  # rank 0 moved each split's map into the cache
    assert launch.changes(1) == []  # rank 1 mapped nothing: it found the files when main_process_first let it go
    assert len(re.findall(r"Tokenizing:\s+0%", launch.stderr)) == 3  # one progress bar per split, not per process


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory, csv_files, bert_dir):
    root = tmp_path_factory.mktemp("bf16")
    config = config_for(root, bert_dir, csv_files, bf16=True, max_steps=6, embedding_projection=False)
    return root / "out", run_classification.main([config])


def test_bf16_on_cpu_trains_saves_and_reloads(bf16_run, csv_files):
    out, results = bf16_run
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert math.isfinite(results["eval_loss"])

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}  # AMP keeps fp32 weights
    batch = {"input_ids": torch.tensor([[2, 10, 11, 12, 3]])}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(**batch).logits.dtype == torch.bfloat16
    with torch.no_grad():
        assert model(**batch).logits.dtype == torch.float32


def test_bf16_predictions_are_bf16_roundings_of_fp32_ones(bf16_run, tmp_path):
    """The run's predictions were computed in bf16: near the fp32 ones of the saved model, but not equal."""
    out, _ = bf16_run
    run_classification.main(
        [str(out.parent / "config.json"), "--model_name_or_path", str(out), "--do_train", "false"]
        + ["--bf16", "false", "--output_dir", str(tmp_path / "fp32")]
    )
    probabilities = ["prob_food", "prob_space", "prob_sport"]
    in_bf16 = pd.read_csv(out / "predictions.csv")[probabilities].to_numpy()
    in_fp32 = pd.read_csv(tmp_path / "fp32" / "predictions.csv")[probabilities].to_numpy()
    difference = np.abs(in_bf16 - in_fp32).max()
    assert 1e-5 < difference < 0.05


def test_fp16_on_cpu_is_refused_with_the_reason(tmp_path, csv_files, bert_dir):
    config = config_for(tmp_path, bert_dir, csv_files, fp16=True)
    with pytest.raises(TextclsError, match="fp16=True needs a GPU.*Use bf16 on a CPU"):
        run_classification.main([config])


def test_mixed_precision_of_an_accelerate_config_reaches_the_arguments(tmp_path, csv_files, bert_dir, monkeypatch):
    """`accelerate launch` exports the config's mixed_precision; the script's checks and collator see it."""
    config = config_for(tmp_path, bert_dir, csv_files)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    training_args = parse_arguments([config])[-1]
    assert training_args.bf16 and not training_args.fp16
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    with pytest.raises(TextclsError, match="fp16=True needs a GPU"):
        parse_arguments([config])


@pytest.mark.skipif(is_torch_bf16_gpu_available(), reason="this machine has a GPU that computes in bf16")
def test_bf16_off_the_cpu_without_such_a_gpu_names_the_fix(tmp_path, csv_files, bert_dir):
    config = config_for(tmp_path, bert_dir, csv_files, bf16=True, use_cpu=False)
    with pytest.raises(TextclsError, match="bf16=True with use_cpu=False needs a GPU.*set use_cpu to true"):
        parse_arguments([config])
