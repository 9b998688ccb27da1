"""The CPU-testable parts of benchmarks/gpu_check.sh: it stands down without a GPU, refuses bad options, and its
two checks (float32 weights, predict.py against predictions.csv) find the mismatches they exist for."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script would run for minutes")
def test_without_a_gpu_it_says_so_and_exits_0():
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--steps", "1"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU" in result.stdout and "nothing run" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--steps", "0"], "--steps must be positive"), (["--data_dir", "/nonexistent"], "must hold 20newsgroups")],
)
def test_bad_options_stop_before_any_run(argv, message, tmp_path, capsys):
    (tmp_path / "20newsgroups").mkdir()
    with pytest.raises(SystemExit):
        gpu_check.parse_options(["--data_dir", str(tmp_path), *argv])
    assert message in capsys.readouterr().err
    assert gpu_check.parse_options(["--data_dir", str(tmp_path)]).steps == 150


def predictions(labels, probabilities) -> pd.DataFrame:
    return pd.DataFrame({"text": ["t"] * len(labels), "predicted": labels, "prob_a": probabilities})


def again(labels, probabilities) -> pd.DataFrame:
    return pd.DataFrame({"label": labels, "score": probabilities, "prob_a": probabilities})


def test_predictions_compared_within_bf16_rounding():
    run = predictions(["a"] * 200, [0.9] * 200)
    assert gpu_check.compare_predictions(run, again(["a"] * 200, [0.92] * 200)) == []
    assert "agrees on 98.0%" in gpu_check.compare_predictions(run, again(["a"] * 196 + ["b"] * 4, [0.9] * 200))[0]
    assert "differ by up to 0.200" in gpu_check.compare_predictions(run, again(["a"] * 200, [0.7] * 200))[0]
    assert "rows" in gpu_check.compare_predictions(run, again(["a"], [0.9]))[0]


def test_weights_saved_in_bf16_are_named(tmp_path):
    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    model = BertForSequenceClassification(config)
    model.save_pretrained(tmp_path / "fp32")
    assert gpu_check.all_float32(tmp_path / "fp32") == []
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    wrong = gpu_check.all_float32(tmp_path / "bf16")
    assert wrong and all(line.endswith("BF16") for line in wrong)
    assert gpu_check.all_float32(tmp_path) == [f"no .safetensors file in {tmp_path}"]
