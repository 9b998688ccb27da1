#!/usr/bin/env python
"""Rare classes: 20 Newsgroups with a few groups cut to 5 % of their training rows, trained with and without
`class_weights: balanced`, scored on the full official test split.

    python benchmarks/imbalance.py                                  # configs/glove_20ng.json, 3 rare groups
    python benchmarks/imbalance.py --config configs/glove_20ng_6class.json --rare comp.graphics sci.med --tfidf

The corpus is read by the project's own 20 Newsgroups loader (`data_scripts.load_twenty_newsgroups`, with the
config's `categories`); the rare
groups' training rows are down-sampled with a seeded generator (same seed, same rows) and written, with the
untouched test split, as JSON Lines into a temporary folder (`--work_dir` keeps it). The config's
`dataset_name` is replaced by those files; everything else (model, epochs, validation share, seed) is the
config's. The run then holds out its validation split from the imbalanced train as usual, so validation is as
imbalanced as train. Each run's test macro-F1 and the rare groups' F1 come from its `all_results.json` and
`classification_report.json`. `--tfidf` adds benchmarks/baseline_tfidf.py on the very same files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from data_scripts import load_twenty_newsgroups
from textcls_errors import TextclsError

REPO = Path(__file__).resolve().parent.parent

DEFAULT_RARE = ["comp.graphics", "rec.autos", "sci.med"]
WEIGHTINGS = ("none", "balanced")  # class_weights of the two runs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/glove_20ng.json", help="a 20newsgroups run config")
    parser.add_argument("--rare", nargs="+", default=DEFAULT_RARE, help="the groups to down-sample")
    parser.add_argument("--fraction", type=float, default=0.05, help="share of a rare group's training rows kept")
    parser.add_argument("--seed", type=int, default=42, help="seed of the down-sampling (the runs use the config's)")
    parser.add_argument("--data_dir", help="20 Newsgroups folder (default: $TEXTCLS_DATA_DIR/20newsgroups)")
    parser.add_argument("--work_dir", help="where the files and runs go (default: a temporary folder, removed)")
    parser.add_argument("--tfidf", action="store_true", help="also run baseline_tfidf.py on the same files")
    parser.add_argument(
        "run_flags", nargs=argparse.REMAINDER, help="after --: flags passed to both runs, e.g. -- --num_train_epochs 5"
    )
    return parser.parse_args(argv)


def imbalanced_indices(labels: np.ndarray, rare_ids: list[int], fraction: float, seed: int) -> np.ndarray:
    """Sorted row indices: every row of the common classes, a seeded `fraction` (at least one row) of each rare one."""
    rng = np.random.default_rng(seed)
    keep = [np.flatnonzero(~np.isin(labels, rare_ids))]
    for label in rare_ids:
        rows = np.flatnonzero(labels == label)
        keep.append(rng.choice(rows, size=max(1, round(len(rows) * fraction)), replace=False))
    return np.sort(np.concatenate(keep))


def read_config(args: argparse.Namespace) -> dict:
    config = json.loads((REPO / args.config).read_text(encoding="utf-8"))
    if config.get("dataset_name") != "20newsgroups" or config.get("remove"):
        raise TextclsError(f"{args.config}: expected a 20newsgroups config (dataset_name: 20newsgroups, no remove)")
    return config


def write_files(args: argparse.Namespace, folder: Path) -> dict[str, int]:
    """train.jsonl (imbalanced) and test.jsonl (untouched) in `folder`; returns the rare groups' training rows."""
    categories = read_config(args).get("categories")
    corpus = load_twenty_newsgroups(args.data_dir, categories=categories)  # None: $TEXTCLS_DATA_DIR/20newsgroups
    names = corpus["train"].features["label"].names
    unknown = sorted(set(args.rare) - set(names))
    if unknown:
        raise TextclsError(f"--rare {unknown}: not 20 Newsgroups groups; the groups are {names}")
    labels = np.asarray(corpus["train"]["label"])
    rare_ids = [names.index(name) for name in args.rare]
    train = corpus["train"].select(imbalanced_indices(labels, rare_ids, args.fraction, args.seed))
    for split, rows in (("train", train), ("test", corpus["test"])):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as out:
            for text, label in zip(rows["text"], rows["label"], strict=True):
                out.write(json.dumps({"text": text, "label": names[label]}) + "\n")
    kept = np.bincount(np.asarray(train["label"]), minlength=len(names))
    return {name: int(kept[names.index(name)]) for name in args.rare} | {"(all)": len(train)}


def run_config(args: argparse.Namespace, folder: Path) -> Path:
    """The config with the imbalanced files in place of the named dataset."""
    config = read_config(args)
    for name in ("dataset_name", "data_dir", "categories", "remove"):  # the files hold the chosen groups
        config.pop(name, None)
    config |= {"train_file": str(folder / "train.jsonl"), "test_file": str(folder / "test.jsonl")}
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def train(config: Path, output_dir: Path, class_weights: str, flags: list[str]) -> tuple[dict, dict, float]:
    """One run_classification.py run; its all_results.json, classification_report.json and wall seconds."""
    command = [sys.executable, str(REPO / "run_classification.py"), str(config), "--output_dir", str(output_dir)]
    command += ["--class_weights", class_weights, "--report_to", "none", *flags]
    print("$ " + shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    seconds = time.perf_counter() - start
    results = json.loads((output_dir / "all_results.json").read_text(encoding="utf-8"))
    report = json.loads((output_dir / "classification_report.json").read_text(encoding="utf-8"))
    return results, report, seconds


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    flags = args.run_flags[1:] if args.run_flags[:1] == ["--"] else args.run_flags
    with tempfile.TemporaryDirectory(prefix="textcls-imbalance-") as temporary:
        folder = Path(args.work_dir or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        kept = write_files(args, folder)
        config = run_config(args, folder)
        print(f"training rows kept: {kept}", flush=True)
        rows = []
        for weighting in WEIGHTINGS:
            results, report, seconds = train(config, folder / f"run_{weighting}", weighting, flags)
            rows.append((weighting, results, report, seconds))
        if args.tfidf:
            subprocess.run(
                [sys.executable, str(REPO / "benchmarks" / "baseline_tfidf.py"), "--config", str(config)],
                check=True,
                cwd=REPO,
            )

    print()
    rare_columns = " | ".join(f"F1 {name} ({kept[name]} train rows)" for name in args.rare)
    print(f"| class_weights | test accuracy | test macro-F1 | {rare_columns} | epochs run | wall s |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in args.rare) + " | ---: | ---: |")
    for weighting, results, report, seconds in rows:
        rare = " | ".join(f"{report[name]['f1-score']:.4f}" for name in args.rare)
        print(
            f"| {weighting} | {results['test_accuracy']:.4f} | {results['test_macro_f1']:.4f} | {rare} "
            f"| {results.get('epoch', float('nan')):.0f} | {seconds:.0f} |"
        )
    print()
    print(
        f"Rare groups {args.rare} kept at {args.fraction:.0%} of their training rows (seed {args.seed}); "
        f"{kept['(all)']} training rows before the validation hold-out; full official test split."
    )
    print(f"Command: `{shlex.join(['python', *sys.argv])}`")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        f"Date: {date.today().isoformat()}. Load average at the end: "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )


if __name__ == "__main__":
    try:
        main()
    except TextclsError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as error:
        print(f"error: a run failed (exit {error.returncode}): {shlex.join(map(str, error.cmd))}", file=sys.stderr)
        sys.exit(1)
