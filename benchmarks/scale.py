"""How time and memory grow with the corpus: the GloVe model's (or MiniLM's) whole run on 10k, 100k and 1M rows.

    python benchmarks/scale.py --rows 10000 100000 --max_steps 50
    python benchmarks/scale.py --model minilm --rows 10000 100000 --max_steps 20 --max_eval_rows 500
    python benchmarks/scale.py --rows 10000 --workers 1 2          # preprocessing_num_workers side by side
    python benchmarks/scale.py --rows 1000000 --folder runs/scale   # kept: a run stopped early still reports
    python benchmarks/scale.py --table runs/scale                   # the table of what a kept folder holds
    python benchmarks/scale.py --rows 10000 1000000 --memory_limit_mib 1790   # each size under a hard memory limit

Builds corpora from the real texts in $TEXTCLS_DATA_DIR (AG News test.csv and 20 Newsgroups, 24 classes; rows drawn
with replacement, each copy missing one random word so that no two are the same file line), writes them as CSV to a
temporary folder, and runs `run_classification.py` on each in a fresh process with a fixed number of training
steps. The run's own functions are wrapped to time each step and record the process's memory after it (RSS and its
own memory, RssAnon) and the peaks (RSS: the kernel's; own: sampled every 0.25 s by a thread):
reading (CSV to Arrow), validation split, the check for texts shared between splits, cleaning, vocabulary
(+ model), tokenizing, training, evaluation, predictions and reports, and the class-separation sample. Each
step's cost is appended to the run's costs.jsonl as it ends, so a run stopped early (a million rows takes hours on
a loaded machine) still gives the steps it finished. Prints one table row per step, one column per size (and
worker count).

With `--memory_limit_mib`, each size runs in a memory cgroup of its own with that hard limit
(`benchmarks/memory_cgroup.py`; needs a writable cgroup, usually root): the kernel must then reclaim the mapped
Arrow pages that RSS counts, so the run completes under the limit or is OOM-killed, and the table says which.

MiniLM runs are bounded: a fixed number of training steps, and `--max_eval_rows` validation and test rows
(evaluating 100k texts with a transformer on a CPU takes hours); reading, the validation split and tokenizing
still go through every row.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.memory_cgroup import create_memory_cgroup, own_pid_into  # noqa: E402
from textcls_errors import TextclsError  # noqa: E402

STEPS = (
    "reading",
    "validation split",
    "overlap check",
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


def anonymous_rss_mb() -> float:
    """The process's own memory (RssAnon: not the pages of memory-mapped Arrow files, which the kernel can drop)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class OwnMemoryPeak:
    """The highest RssAnon seen since the last `take()`, sampled every `interval` seconds by a daemon thread (the
    kernel keeps a peak of the whole RSS only, which counts the mapped pages of the Arrow files)."""

    def __init__(self, interval: float = 0.25):
        import threading

        self.peak, self.lock = anonymous_rss_mb(), threading.Lock()
        threading.Thread(target=self._sample, args=(interval,), daemon=True).start()

    def _sample(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            with self.lock:
                self.peak = max(self.peak, anonymous_rss_mb())

    def take(self) -> float:
        """The peak since the last call (the current value included), and start a new one."""
        with self.lock:
            peak, self.peak = max(self.peak, anonymous_rss_mb()), anonymous_rss_mb()
        return peak


def measure_run(argv: list[str], record: Path) -> None:
    """In this process: run run_classification.main(argv) with its steps wrapped; append each step's cost to
    `record` (JSON lines) as it ends, then the whole run's."""
    sys.path.insert(0, str(ROOT))
    import data_scripts
    import run_classification
    import training.reports
    from training.trainer import ClassificationTrainer

    process = psutil.Process()
    started = time.perf_counter()
    own_peak = OwnMemoryPeak()

    def note(cost: dict) -> None:
        with open(record, "a") as file:
            file.write(json.dumps(cost) + "\n")

    def wrap(owner, name: str, step: str) -> None:
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            note(
                {
                    "step": step,
                    "seconds": time.perf_counter() - start,
                    "rss_mb": process.memory_info().rss / 2**20,
                    "anon_mb": anonymous_rss_mb(),
                    "peak_anon_mb": own_peak.take(),
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "load": os.getloadavg()[0],
                }
            )
            return result

        setattr(owner, name, timed)

    wrap(data_scripts, "load_local_files", "reading")
    wrap(data_scripts, "add_validation_split", "validation split")
    wrap(run_classification, "split_overlap", "overlap check")
    wrap(run_classification, "clean_corpus", "cleaning")
    wrap(run_classification, "build_word_model", "vocabulary and model")
    wrap(run_classification, "load_pretrained", "vocabulary and model")
    wrap(run_classification, "tokenize_corpus", "tokenizing")
    wrap(ClassificationTrainer, "train", "training")
    wrap(ClassificationTrainer, "evaluate", "evaluation")
    wrap(ClassificationTrainer, "predict", "prediction")
    wrap(training.reports, "write_predictions", "predictions and reports")
    wrap(training.reports, "write_classification_report", "predictions and reports")
    wrap(training.reports, "plot_confusion_matrix", "predictions and reports")
    wrap(run_classification, "stratified_sample", "class-separation sample")
    run_classification.main(argv)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    note({"step": "whole run", "seconds": time.perf_counter() - started, "rss_mb": 0.0, "peak_rss_mb": peak,
          "peak_anon_mb": own_peak.take(), "load": os.getloadavg()[0]})  # fmt: skip


CONFIGS = {"glove": "glove_20ng.json", "minilm": "minilm_20ng.json"}


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not above zero")
    return value


def run_size(rows: int, workers: int, texts, labels, scratch: Path, options) -> Path:
    """Write the corpus, run the model on it in a fresh process; the folder holding its costs.jsonl."""
    folder = scratch / f"{options.model}-rows-{rows}-workers-{workers}"
    folder.mkdir(parents=True)
    paths = write_corpus(folder, rows, texts, labels)
    config = json.loads((ROOT / "configs" / CONFIGS[options.model]).read_text())
    for name in ("dataset_name", "data_dir", "categories", "remove"):
        config.pop(name, None)
    config.update(train_file=str(paths["train"]), test_file=str(paths["test"]), output_dir=str(folder / "out"))
    (folder / "config.json").write_text(json.dumps(config))
    argv = [
        str(folder / "config.json"), "--cache_dir", str(folder / "cache"),
        "--max_steps", str(options.max_steps), "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--early_stopping_patience", "0",
        "--embedding_projection", "false", "--report_to", "none",
        "--preprocessing_num_workers", str(workers),
    ]  # fmt: skip
    if options.max_eval_rows:
        argv += ["--max_eval_samples", str(options.max_eval_rows), "--max_predict_samples", str(options.max_eval_rows)]
    record = folder / "costs.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.scale import measure_run; "
    code += f"measure_run({argv!r}, __import__('pathlib').Path({str(record)!r}))"
    command = [sys.executable, "-c", code]
    with open(folder / "run.log", "w") as log:
        if options.memory_limit_mib is None:
            subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=log, stderr=log)
        else:
            run_limited(command, folder, options.memory_limit_mib, env=env, stdout=log, stderr=log)
    for path in paths.values():  # the corpus can be gigabytes; the costs are what is kept
        path.unlink()
    return folder


def run_limited(command: list[str], folder: Path, limit_mib: int, **kwargs) -> None:
    """Run `command` in a memory cgroup of its own, limited to `limit_mib`; write what the limit cost (and whether
    the kernel killed the run for it) to folder/memory_limit.json. A failure other than an OOM kill stops."""
    group = create_memory_cgroup(limit_mib, f"textcls-scale-{os.getpid()}-{folder.name}")
    try:
        started = time.perf_counter()
        process = subprocess.run(command, cwd=ROOT, preexec_fn=own_pid_into(group), check=False, **kwargs)
        outcome = {"returncode": process.returncode, "seconds": time.perf_counter() - started, **group.report()}
    finally:
        group.remove()
    outcome["oom_killed"] = bool(outcome["oom_kills"]) or process.returncode == -signal.SIGKILL
    (folder / "memory_limit.json").write_text(json.dumps(outcome))
    if process.returncode != 0 and not outcome["oom_killed"]:
        raise subprocess.CalledProcessError(process.returncode, command)


def limit_cell(folder: Path) -> str:
    """The table cell of a run under a memory limit: killed, or completed with what the limit cost."""
    path = folder / "memory_limit.json"
    if not path.is_file():
        return "–"
    outcome = json.loads(path.read_text())
    if outcome["oom_killed"]:
        return f"**OOM-killed** at {outcome['limit_mib']} MiB"
    peak = outcome.get("cgroup_peak_mib")
    return (
        f"completed under {outcome['limit_mib']} MiB (cgroup peak {peak:.0f}, failcnt "
        f"{outcome.get('limit_hits')}, major faults {outcome.get('major_faults')})"
        if peak is not None
        else f"completed under {outcome['limit_mib']} MiB"
    )


def read_costs(folder: Path) -> dict[str, dict[str, float]]:
    """Per step: seconds (summed), RSS after it and peak RSS so far (largest), load average at its end."""
    steps: dict[str, dict[str, float]] = {}
    record = folder / "costs.jsonl"
    for line in record.read_text().splitlines() if record.is_file() else []:
        cost = json.loads(line)
        step = steps.setdefault(cost["step"], dict.fromkeys(("seconds", "rss_mb", "anon_mb", "peak_rss_mb"), 0.0))
        step.setdefault("load", 0.0)
        step["seconds"] += cost["seconds"]
        for key in ("rss_mb", "anon_mb", "peak_rss_mb", "peak_anon_mb", "load"):
            step[key] = max(step.get(key, 0.0), cost.get(key, 0.0))
    if "whole run" in steps:  # its own sample covers only the time after the last step
        steps["whole run"]["peak_anon_mb"] = max(step.get("peak_anon_mb", 0.0) for step in steps.values())
    return steps


def print_table(folders: list[Path]) -> None:
    """One row per step, one column per run folder (in the given order), the last column's time over the first's."""
    results = {folder.name: read_costs(folder) for folder in folders}
    names = list(results)
    print(
        "| step | "
        + " | ".join(f"{name}: s / RSS after (own) / peak RSS (peak own) MiB" for name in names)
        + " | × time |"
    )
    print("| --- |" + " ---: |" * (len(names) + 1))
    for step in (*STEPS, "whole run"):
        cells = []
        for name in names:
            cost = results[name].get(step)
            own = f" ({cost['anon_mb']:.0f})" if cost and cost.get("anon_mb") else ""
            own_peak = f" ({cost['peak_anon_mb']:.0f})" if cost and cost.get("peak_anon_mb") else ""
            cells.append(
                "–"
                if cost is None
                else f"{cost['seconds']:.1f} / {cost['rss_mb']:.0f}{own} / {cost['peak_rss_mb']:.0f}{own_peak}"
            )
        first, last = results[names[0]].get(step), results[names[-1]].get(step)
        ratio = f"{last['seconds'] / max(first['seconds'], 1e-3):.1f}" if first and last and len(names) > 1 else ""
        print(f"| {step} | " + " | ".join(cells) + f" | {ratio} |")
    if any((folder / "memory_limit.json").is_file() for folder in folders):
        print("| memory limit | " + " | ".join(limit_cell(folder) for folder in folders) + " | |")
    loads = {name: max((cost["load"] for cost in steps.values()), default=0.0) for name, steps in results.items()}
    print("highest load average at a step's end: " + ", ".join(f"{name} {load:.1f}" for name, load in loads.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--max_steps", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="preprocessing_num_workers (each)")
    parser.add_argument("--model", choices=sorted(CONFIGS), default="glove")
    parser.add_argument("--max_eval_rows", type=int, default=None, help="max_eval_samples and max_predict_samples")
    parser.add_argument("--folder", type=Path, default=None, help="keep the runs' costs here (default: temporary)")
    parser.add_argument("--table", type=Path, default=None, help="only print the table of the runs in this folder")
    parser.add_argument("--data_dir", default=os.environ.get("TEXTCLS_DATA_DIR"))
    parser.add_argument(
        "--memory_limit_mib",
        type=positive_int,
        default=None,
        help="run each size in a memory cgroup with this hard limit (MiB): it completes under it or is OOM-killed",
    )
    options = parser.parse_args()
    # Stopped (kill PID): end as on an error, so that a run's child is killed and its memory cgroup removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if options.table is not None:
        print_table(sorted(options.table.glob("*-rows-*"), key=lambda folder: folder.stat().st_mtime))
        return
    if not options.data_dir:
        parser.error("give --data_dir or set $TEXTCLS_DATA_DIR")
    if options.memory_limit_mib is not None:  # refuse now, not after the first corpus is written
        try:
            create_memory_cgroup(options.memory_limit_mib, f"textcls-scale-{os.getpid()}-check").remove()
        except TextclsError as error:
            parser.error(str(error))
    texts, labels = source_documents(Path(options.data_dir))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        root = options.folder or Path(scratch)
        folders = []
        for rows in options.rows:
            for workers in options.workers:
                folders.append(run_size(rows, workers, texts, labels, root, options))
                print(f"{folders[-1].name} done", file=sys.stderr, flush=True)
        print_table(folders)
    print()
    print(f"command: python benchmarks/scale.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; date {datetime.date.today()}"
    )


if __name__ == "__main__":
    main()
