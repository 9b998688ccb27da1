"""GPU readiness, for whoever has one: bf16 training speed with our settings against transformers' padded ones, and
what a bf16 run saves. Started by benchmarks/gpu_check.sh, which exits 0 at once on a machine without a GPU.

    TEXTCLS_DATA_DIR=../shared/data bash benchmarks/gpu_check.sh [--steps 150] [--output_dir DIR]

For MiniLM-L6 (the packaged weights) and a RoBERTa-base-sized encoder (12 layers, 768 wide, random weights built
from a config: no network needed), on 20 Newsgroups, a fixed number of bf16 steps:
  - ours: dynamic padding and length-grouped batches (the defaults);
  - transformers' example: every text padded to max_seq_length, random batches.
Prints train samples/s side by side. Then checks the MiniLM run: its saved weights are float32, and predict.py run
on its test texts gives the same classes as its predictions.csv (and probabilities within bf16 rounding).
Exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SETTINGS = {
    "ours": [],
    "transformers' example (padded)": ["--pad_to_max_length", "true", "--train_sampling_strategy", "random"],
}
# bf16 keeps 8 bits of mantissa: probabilities of a bf16 forward pass differ from fp32 ones by up to a few 1e-2
PROBABILITY_TOLERANCE = 0.05
LABEL_AGREEMENT = 0.99


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="Optimizer steps per run (positive).")
    parser.add_argument("--batch_size", type=int, default=32, help="Per-device training batch size (positive).")
    parser.add_argument("--max_seq_length", type=int, default=256)
    parser.add_argument("--data_dir", default=os.environ.get("TEXTCLS_DATA_DIR"), help="Holds 20newsgroups/.")
    parser.add_argument("--output_dir", help="Where the runs go (default: a temporary folder, deleted after).")
    return parser


def parse_options(argv: list[str]) -> argparse.Namespace:
    """The options, checked: a bad value stops the script before any GPU time is spent."""
    parser = build_parser()
    options = parser.parse_args(argv)
    for name in ("steps", "batch_size", "max_seq_length"):
        if getattr(options, name) <= 0:
            parser.error(f"--{name} must be positive; got {getattr(options, name)}")
    if not options.data_dir or not (Path(options.data_dir) / "20newsgroups").is_dir():
        parser.error(f"--data_dir (or $TEXTCLS_DATA_DIR) must hold 20newsgroups/; got {options.data_dir!r}")
    return options


def all_float32(model_dir: Path) -> list[str]:
    """The names of the saved tensors that are not float32 (empty when all are)."""
    from safetensors import safe_open

    wrong = []
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as tensors:
            for name in tensors.keys():
                dtype = tensors.get_slice(name).get_dtype()
                if dtype != "F32":
                    wrong.append(f"{name}: {dtype}")
    if not list(model_dir.glob("*.safetensors")):
        wrong.append(f"no .safetensors file in {model_dir}")
    return wrong


def compare_predictions(run: pd.DataFrame, again: pd.DataFrame) -> list[str]:
    """What differs between a run's predictions.csv and predict.py's output on the same texts (empty if nothing).

    Classes must agree on LABEL_AGREEMENT of the rows, and every probability within PROBABILITY_TOLERANCE.
    """
    problems = []
    if len(run) != len(again):
        return [f"{len(run)} rows in predictions.csv, {len(again)} from predict.py"]
    columns = sorted(column for column in run if column.startswith("prob_"))
    if columns != sorted(column for column in again if column.startswith("prob_")):
        return [f"class columns differ: {columns} vs {sorted(c for c in again if c.startswith('prob_'))}"]
    agreement = float(np.mean(run["predicted"].astype(str).to_numpy() == again["label"].astype(str).to_numpy()))
    if agreement < LABEL_AGREEMENT:
        problems.append(f"predict.py agrees on {agreement:.1%} of the classes (needs {LABEL_AGREEMENT:.0%})")
    difference = float(np.abs(run[columns].to_numpy() - again[columns].to_numpy()).max())
    if difference > PROBABILITY_TOLERANCE:
        problems.append(f"probabilities differ by up to {difference:.3f} (tolerance {PROBABILITY_TOLERANCE})")
    return problems


def roberta_sized_model(folder: Path) -> Path:
    """A 12-layer, 768-wide encoder with random weights and MiniLM's tokenizer, saved as a model folder."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from modeling.hub import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
    config.intermediate_size = 3072
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def train(model: str, setting: list[str], output_dir: Path, options: argparse.Namespace) -> dict:
    command = [
        sys.executable, str(ROOT / "run_classification.py"), str(ROOT / "configs" / "minilm_20ng.json"),
        "--model_name_or_path", model, "--output_dir", str(output_dir), "--data_dir",
        str(Path(options.data_dir) / "20newsgroups"), "--bf16", "true", "--use_cpu", "false",
        "--max_steps", str(options.steps), "--per_device_train_batch_size", str(options.batch_size),
        "--max_seq_length", str(options.max_seq_length), "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--embedding_projection", "false", "--report_to", "none",
        "--max_predict_samples", "1000", *setting,
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads((output_dir / "all_results.json").read_text())


def main(argv: list[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(options.output_dir or scratch)
        models = {"MiniLM-L6": MINILM, "RoBERTa-base-sized (random)": str(roberta_sized_model(root / "roberta_base"))}
        rows, problems = [], []
        for model_name, model in models.items():
            speeds = {}
            for setting_name, setting in SETTINGS.items():
                folder = root / f"{model_name.split()[0]}-{'ours' if not setting else 'padded'}"
                results = train(model, setting, folder, options)
                speeds[setting_name] = results["train_samples_per_second"]
                if model == MINILM and not setting:
                    problems += check_saved_run(folder)
            ours, padded = speeds["ours"], speeds["transformers' example (padded)"]
            rows.append(f"| {model_name} | {padded:.1f} | {ours:.1f} | {ours / padded:.2f} |")
        print(f"\nbf16, {options.steps} steps of {options.batch_size}, max_seq_length {options.max_seq_length}")
        print("| model | padded, random batches: train samples/s | ours | × |")
        print("| --- | ---: | ---: | ---: |")
        print("\n".join(rows))
    for problem in problems:
        print(f"MISMATCH: {problem}")
    print("gpu_check: " + ("FAILED" if problems else "all checks passed"))
    return 1 if problems else 0


def check_saved_run(folder: Path) -> list[str]:
    """A bf16 run saves float32 weights, and predict.py reproduces its predictions.csv."""
    problems = [f"saved weight not float32: {name}" for name in all_float32(folder)]
    again = folder / "predict_again.csv"
    command = [sys.executable, str(ROOT / "predict.py"), "--model_dir", str(folder), "--input"]
    command += [str(folder / "predictions.csv"), "--text_column", "text", "--output", str(again)]
    subprocess.run(command, cwd=ROOT, check=True)
    return problems + compare_predictions(pd.read_csv(folder / "predictions.csv"), pd.read_csv(again))


if __name__ == "__main__":
    sys.exit(main())
