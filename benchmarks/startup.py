"""Start-up cost of run_classification.py against the transformers import it cannot avoid.

    python benchmarks/startup.py --repeats 5

Times, interleaved so that a busy machine slows all three alike (median of `--repeats` each):
  1. `python -c "from transformers import TrainingArguments, HfArgumentParser"`, what any script that parses
     TrainingArguments pays (it imports torch, and peft when installed);
  2. `python run_classification.py --help`;
  3. a real run (GloVe on 20 Newsgroups, `--max_train_samples 64`, random vectors) until its first log line.
Targets: (2) <= 1.2x (1), and (3) <= 1.5x (1). Wall time on a shared machine varies by tens of percent from one
start to the next; CPU time (user + system) is printed beside it, as the steadier of the two.
Needs $TEXTCLS_DATA_DIR for (3); without it (3) is skipped.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"--help": 1.2, "first log line": 1.5}


def cpu_seconds() -> float:
    """User + system CPU time of the finished child processes so far: unlike wall time, little changed by load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time of a command that runs to its end."""
    start, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start, cpu_seconds() - cpu


def seconds_to_first_line(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time until the command prints its first line (stdout and stderr together); it is then stopped
    (the CPU time includes the few milliseconds between the line and the kill)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        elapsed = time.perf_counter() - start
        if not line:
            raise RuntimeError(f"{' '.join(command)} printed nothing (exit {process.wait()})")
    finally:
        process.kill()
        process.wait()
    return elapsed, cpu_seconds() - cpu


def run_command(output_dir: str) -> list[str]:
    return [
        sys.executable,
        "run_classification.py",
        "configs/glove_20ng.json",
        "--output_dir",
        output_dir,
        "--embedding_init",
        "random",
        "--max_train_samples",
        "64",
        "--report_to",
        "none",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false")
    baseline = [sys.executable, "-c", "from transformers import TrainingArguments, HfArgumentParser"]
    helps = [sys.executable, "run_classification.py", "--help"]
    with_run = bool(os.environ.get("TEXTCLS_DATA_DIR"))
    times: dict[str, list[tuple[float, float]]] = {"transformers import": [], "--help": [], "first log line": []}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        env["HF_HOME"] = env.get("HF_HOME", str(Path(scratch) / "hf"))
        seconds(helps, env)  # writes the bytecode caches, so that no measurement pays for compiling
        for _ in range(options.repeats):
            times["transformers import"].append(seconds(baseline, env))
            times["--help"].append(seconds(helps, env))
            if with_run:
                times["first log line"].append(seconds_to_first_line(run_command(str(Path(scratch) / "run")), env))
    load_after = os.getloadavg()[0]

    base_wall = statistics.median(wall for wall, _ in times["transformers import"])
    base_cpu = statistics.median(cpu for _, cpu in times["transformers import"])
    print(f"| what | wall s, median of {options.repeats} | × import | CPU s, median | × import | target |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, values in times.items():
        if not values:
            print(f"| {name} | skipped (no $TEXTCLS_DATA_DIR) | | | | |")
            continue
        wall = statistics.median(value[0] for value in values)
        cpu = statistics.median(value[1] for value in values)
        target = f"≤ {TARGETS[name]}×" if name in TARGETS else ""
        print(f"| {name} | {wall:.2f} | {wall / base_wall:.2f} | {cpu:.2f} | {cpu / base_cpu:.2f} | {target} |")
    print()
    print(f"command: python benchmarks/startup.py --repeats {options.repeats}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {load_before:.1f} before, {load_after:.1f} after; date {datetime.date.today()}"
    )


if __name__ == "__main__":
    main()
