"""How time and memory grow with the corpus: the GloVe model's whole run on 10k, 100k (and 1M) rows.

    python benchmarks/scale.py --rows 10000 100000 --max_steps 50

Builds corpora from the real texts in $TEXTCLS_DATA_DIR (AG News test.csv and 20 Newsgroups, 24 classes; rows drawn
with replacement, each copy missing one random word so that no two are the same file line), writes them as CSV to a
temporary folder, and runs `run_classification.py` on each in a fresh process with a fixed number of training
steps. The run's own functions are wrapped to time each step and record the process's memory after it:
reading (CSV to Arrow), validation split, cleaning, vocabulary (+ model), tokenizing, training, evaluation,
predictions and reports, and the class-separation sample. Prints one table row per size and step.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
STEPS = (
    "reading",
    "validation split",
    "cleaning",
    "vocabulary and model",
    "tokenizing",
    "training",
    "evaluation",
    "prediction",
    "predictions and reports",
    "class-separation sample",
)


def source_documents(data_dir: Path) -> tuple[list[str], list[str]]:
    """(texts, class names) of AG News test.csv and the 20 Newsgroups archive (training part)."""
    classes = (data_dir / "ag_news" / "classes.txt").read_text().split()
    texts, labels = [], []
    with open(data_dir / "ag_news" / "test.csv", newline="", encoding="utf-8") as file:
        for label, title, description in csv.reader(file):
            texts.append(f"{title}. {description}".replace("\\n", " "))
            labels.append(f"ag.{classes[int(label) - 1]}")
    with tarfile.open(data_dir / "20newsgroups" / "20news-bydate.tar.gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[0] == "20news-bydate-train":
                texts.append(archive.extractfile(member).read().decode("latin-1"))
                labels.append(parts[1])
    return texts, labels


def write_corpus(folder: Path, rows: int, texts: list[str], labels: list[str], seed: int = 0) -> dict[str, Path]:
    """train.csv (rows) and test.csv (rows / 10) drawn from the source documents, one word dropped in each."""
    rng = np.random.default_rng(seed)
    paths = {}
    for split, count in (("train", rows), ("test", max(rows // 10, 100))):
        paths[split] = folder / f"{split}.csv"
        with open(paths[split], "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["text", "label"])
            for start in range(0, count, 10_000):
                for index in rng.integers(0, len(texts), size=min(10_000, count - start)):
                    words = texts[index].split()
                    if len(words) > 1:
                        del words[rng.integers(len(words))]
                    writer.writerow([" ".join(words), labels[index]])
    return paths


def measure_run(argv: list[str], record: Path) -> None:
    """In this process: run run_classification.main(argv) with its steps wrapped; write their costs to `record`."""
    sys.path.insert(0, str(ROOT))
    import data_scripts
    import run_classification
    import training.reports
    from training.trainer import ClassificationTrainer

    process = psutil.Process()
    costs: list[dict] = []
    started = time.perf_counter()

    def wrap(owner, name: str, step: str) -> None:
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            costs.append(
                {
                    "step": step,
                    "seconds": time.perf_counter() - start,
                    "rss_mb": process.memory_info().rss / 2**20,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
            return result

        setattr(owner, name, timed)

    wrap(data_scripts, "load_local_files", "reading")
    wrap(data_scripts, "add_validation_split", "validation split")
    wrap(run_classification, "clean_corpus", "cleaning")
    wrap(run_classification, "build_word_model", "vocabulary and model")
    wrap(run_classification, "tokenize_corpus", "tokenizing")
    wrap(ClassificationTrainer, "train", "training")
    wrap(ClassificationTrainer, "evaluate", "evaluation")
    wrap(ClassificationTrainer, "predict", "prediction")
    wrap(training.reports, "write_predictions", "predictions and reports")
    wrap(training.reports, "write_classification_report", "predictions and reports")
    wrap(training.reports, "plot_confusion_matrix", "predictions and reports")
    wrap(run_classification, "stratified_sample", "class-separation sample")
    run_classification.main(argv)
    record.write_text(json.dumps({"costs": costs, "total_seconds": time.perf_counter() - started}))


def run_size(rows: int, texts, labels, scratch: Path, options) -> dict[str, dict[str, float]]:
    folder = scratch / f"rows-{rows}"
    folder.mkdir()
    paths = write_corpus(folder, rows, texts, labels)
    config = json.loads((ROOT / "configs" / "glove_20ng.json").read_text())
    for name in ("dataset_name", "data_dir", "categories", "remove"):
        config.pop(name, None)
    config.update(train_file=str(paths["train"]), test_file=str(paths["test"]), output_dir=str(folder / "out"))
    (folder / "config.json").write_text(json.dumps(config))
    argv = [
        str(folder / "config.json"), "--cache_dir", str(folder / "cache"),
        "--max_steps", str(options.max_steps), "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--early_stopping_patience", "0",
        "--embedding_projection", "false", "--report_to", "none",
        "--preprocessing_num_workers", str(options.workers),
    ]  # fmt: skip
    record = folder / "costs.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.scale import measure_run; "
    code += f"measure_run({argv!r}, __import__('pathlib').Path({str(record)!r}))"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    measured = json.loads(record.read_text())
    steps: dict[str, dict[str, float]] = {}
    for cost in measured["costs"]:
        step = steps.setdefault(cost["step"], {"seconds": 0.0, "rss_mb": 0.0, "peak_rss_mb": 0.0})
        step["seconds"] += cost["seconds"]
        step["rss_mb"] = max(step["rss_mb"], cost["rss_mb"])
        step["peak_rss_mb"] = max(step["peak_rss_mb"], cost["peak_rss_mb"])
    steps["whole run"] = {
        "seconds": measured["total_seconds"],
        "rss_mb": 0.0,
        "peak_rss_mb": max(cost["peak_rss_mb"] for cost in measured["costs"]),
    }
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--max_steps", type=int, default=50)
    parser.add_argument("--workers", type=int, default=None, help="preprocessing_num_workers")
    parser.add_argument("--data_dir", default=os.environ.get("TEXTCLS_DATA_DIR"))
    options = parser.parse_args()
    if not options.data_dir:
        parser.error("give --data_dir or set $TEXTCLS_DATA_DIR")
    if options.workers is None:
        options.workers = 1
    texts, labels = source_documents(Path(options.data_dir))
    results = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        for rows in options.rows:
            results[rows] = run_size(rows, texts, labels, Path(scratch), options)
            print(f"{rows} rows done", file=sys.stderr, flush=True)
    smallest = min(options.rows)
    print("| step | " + " | ".join(f"{rows:,} rows: s / RSS after / peak MiB" for rows in options.rows) + " | × time |")
    print("| --- |" + " ---: |" * (len(options.rows) + 1))
    for step in (*STEPS, "whole run"):
        cells = []
        for rows in options.rows:
            cost = results[rows].get(step)
            cells.append(
                "–" if cost is None else f"{cost['seconds']:.1f} / {cost['rss_mb']:.0f} / {cost['peak_rss_mb']:.0f}"
            )
        first, last = results[smallest].get(step), results[max(options.rows)].get(step)
        ratio = f"{last['seconds'] / max(first['seconds'], 1e-3):.1f}" if first and last else ""
        print(f"| {step} | " + " | ".join(cells) + f" | {ratio} |")
    print()
    print(
        f"command: python benchmarks/scale.py --rows {' '.join(map(str, options.rows))} --max_steps {options.max_steps}"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; date {datetime.date.today()}; preprocessing_num_workers {options.workers}"
    )


if __name__ == "__main__":
    main()
