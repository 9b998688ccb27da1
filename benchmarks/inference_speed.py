#!/usr/bin/env python
"""Inference speed, memory and agreement: predict.py's backends against transformers' pipeline, side by side.

    # once: a small AG News split (the shared copy holds test.csv only) and the models the tables measure:
    #   bench/minilm_agnews: configs/minilm_20ng.json with train_file bench/train.csv, validation_file and
    #     test_file bench/validation.csv (no dataset_name), max_seq_length 256 (AG News texts are shorter; 20NG's
    #     are cut there), truncation_side head (as the pipeline cuts), num_train_epochs 1, no early stopping;
    #     bench/glove_agnews: configs/glove_agnews.json with the same files, 10 epochs
    python benchmarks/inference_speed.py split --out_dir bench
    python export_onnx.py --model_dir bench/minilm_agnews --optimize --quantize int8 --check_texts bench/validation.csv
    python export_onnx.py --model_dir bench/glove_agnews --quantize int8 --check_texts bench/validation.csv
    # the table
    python benchmarks/inference_speed.py compare --model_dir bench/minilm_agnews --texts bench/test.csv --rows 1000
    python benchmarks/inference_speed.py compare --model_dir bench/minilm_agnews --texts 20newsgroups --rows 300
    python benchmarks/inference_speed.py compare --model_dir bench/glove_agnews --texts bench/test.csv --rows 5300 \
        --batch_size 256 --pipeline_batch_size 256
    python benchmarks/inference_speed.py scale --model_dir bench/glove_agnews --texts bench/test.csv --backend onnx

Every setting runs in its own process (so that each peak RSS is its own), one after the other in one run, on
the same texts: speeds on a shared machine are noisy, their ratios less so. texts/s counts everything a user
waits for once the libraries are imported: loading the model, reading the input file, tokenizing, the forward
passes and writing the output file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SPLIT_ROWS = {"train": 2000, "validation": 300}  # the rest of AG News test.csv is the benchmark's test set


def write_split(out_dir: Path, data_dir: str) -> None:
    """AG News test.csv, shuffled (seed 0): 2,000 rows to train on, 300 to validate, 5,300 to measure."""
    from data_scripts import read_ag_news_csv_dir

    rows = read_ag_news_csv_dir(Path(data_dir) / "ag_news")["test"].shuffle(seed=0)
    names = rows.features["label"].names
    frame = rows.to_pandas()
    frame["label"] = [names[index] for index in frame["label"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in [*SPLIT_ROWS.items(), ("test", len(frame))]:
        frame.iloc[start : start + count].to_csv(out_dir / f"{split}.csv", index=False)
        start += count


def load_texts(source: str, rows: int, data_dir: str) -> pd.DataFrame:
    """`text` and `gold` of the first `rows` texts of a CSV with text,label columns, or of 20NG's test split."""
    if source == "20newsgroups":
        from data_scripts import load_corpus

        test = load_corpus("20newsgroups", data_dir=str(Path(data_dir) / "20newsgroups"))["test"]
        names = test.features["label"].names
        frame = pd.DataFrame({"text": test["text"], "gold": [names[index] for index in test["label"]]})
    else:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False).rename(columns={"label": "gold"})
    frame = frame.iloc[:rows] if rows <= len(frame) else frame.sample(rows, replace=True, random_state=0)
    return frame.reset_index(drop=True)[["text", "gold"]]


def child(arguments: list[str]) -> None:
    """Run one setting in this process and print its seconds and peak RSS as JSON (the last line)."""
    kind, model_dir, texts, output, batch_size, *rest = arguments
    # libraries are imported before the clock starts (tens of seconds on a busy machine, the same for all)
    import torch
    from transformers import pipeline

    import modeling  # noqa: F401  the GloVe and RNN models
    import predict

    started, cpu_started = time.perf_counter(), cpu_seconds()
    if kind == "pipeline":
        classify = pipeline("text-classification", model=model_dir, device="cpu", dtype=torch.float32)
        frame = pd.read_csv(texts, dtype=str, keep_default_na=False)
        max_length = json.loads((Path(model_dir) / "config.json").read_text())["text_truncation"]["max_seq_length"]
        results = classify(frame["text"].tolist(), batch_size=int(batch_size), truncation=True, max_length=max_length)
        frame["label"] = [result["label"] for result in results]
        frame.to_csv(output, index=False)
    else:
        predict.main(
            ["--model_dir", model_dir, "--input", texts, "--output", output, "--batch_size", batch_size]
            + ["--backend", kind, *rest]
        )
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's own peak RSS: Linux's VmHWM. Not ru_maxrss, which a child started by subprocess inherits from
    its parent across fork and exec (the parent's peak, e.g. a 1,000,000-row frame it wrote, would read as the
    child's)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used: on a shared machine it moves less with the
    other jobs' load than wall time (onnxruntime's threads spin briefly while waiting, which counts here too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_setting(kind: str, model_dir: str, texts: Path, output: Path, batch_size: int, *rest: str) -> dict:
    command = [sys.executable, __file__, "_child", kind, model_dir, str(texts), str(output), str(batch_size), *rest]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ})
    if finished.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def compare(options: argparse.Namespace) -> None:
    frame = load_texts(options.texts, options.rows, options.data_dir)
    load_at_start = os.getloadavg()[0]
    settings = [(name, options.batch_size) for name in options.backends]
    if not options.no_pipeline:
        settings.insert(0, ("pipeline", options.pipeline_batch_size))
    threads = ["--num_threads", str(options.num_threads)] if options.num_threads else []
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        texts = Path(folder) / "texts.csv"
        frame[["text"]].to_csv(texts, index=False)
        predictions = {}
        for kind, batch_size in settings:
            output = Path(folder) / f"{kind}.csv"
            measured = run_setting(kind, options.model_dir, texts, output, batch_size, *threads)
            predictions[kind] = pd.read_csv(output, dtype=str, keep_default_na=False)["label"].to_numpy()
            rows.append((kind, batch_size, measured))
            print(f"{kind}: {measured}", file=sys.stderr)
    gold = frame["gold"].to_numpy()
    score_gold = bool(set(gold) & set(np.concatenate(list(predictions.values()))))  # the model's classes
    header = (
        "| setting | batch | texts/s | × first row | CPU ms per text | × first row (CPU time) | peak RSS MiB | "
        "accuracy | agreement with torch |"
    )
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base, base_cpu = len(frame) / rows[0][2]["seconds"], rows[0][2]["cpu_seconds"]
    for kind, batch_size, measured in rows:
        speed = len(frame) / measured["seconds"]
        cpu_used = max(measured["cpu_seconds"], 1e-9)
        cpu = f"{1000 * cpu_used / len(frame):,.3f} | {base_cpu / cpu_used:.2f}"
        accuracy = f"{(predictions[kind] == gold).mean():.2%}" if score_gold else "n/a"
        agreement = f"{(predictions[kind] == predictions['torch']).mean():.2%}" if "torch" in predictions else "n/a"
        name = "transformers pipeline" if kind == "pipeline" else f"predict.py --backend {kind}"
        lines.append(
            f"| {name} | {batch_size} | {speed:,.1f} | {speed / base:.2f} | {cpu} | {measured['peak_rss_mib']:,.0f} | "
            f"{accuracy} | {agreement} |"
        )
    tokens, cut = tokens_read(options.model_dir, frame["text"].tolist())
    threads_note = f", {options.num_threads} intra-op threads" if options.num_threads else ""
    what = (
        f"{len(frame):,} texts from {options.texts} ({tokens.mean():.0f} tokens on average as the model reads them, "
        f"{(tokens >= cut).mean():.0%} cut at {cut}), model {Path(options.model_dir).name}{threads_note}"
    )
    report(lines, what, load_at_start)


def tokens_read(model_dir: str, texts: list[str]) -> tuple[np.ndarray, int]:
    """How many tokens of each text the model reads (cleaned and cut as its folder records), and the cut."""
    from inference.classifier import TextClassifier

    classifier = TextClassifier(model_dir, device="cpu", backend="torch")
    cut = json.loads((Path(model_dir) / "config.json").read_text())["text_truncation"]["max_seq_length"]
    return np.array([len(ids) for ids in classifier.encode(texts)["input_ids"]]), cut


def scale(options: argparse.Namespace) -> None:
    """predict.py on inputs of growing size built from AG News texts (repeated): time and peak RSS."""
    texts = pd.read_csv(options.texts, dtype=str, keep_default_na=False)["text"]
    lines = [
        "| rows | seconds | texts/s | CPU seconds | texts per CPU-second | peak RSS MiB | output MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    threads = ["--num_threads", str(options.num_threads)] if options.num_threads else []
    with tempfile.TemporaryDirectory() as folder:
        for rows in options.rows_list:
            path = Path(folder) / f"texts_{rows}.csv"
            repeated = np.resize(texts.to_numpy(), rows)
            pd.DataFrame({"text": repeated}).to_csv(path, index=False)
            output = Path(folder) / "out.csv"
            measured = run_setting(options.backend, options.model_dir, path, output, options.batch_size, *threads)
            lines.append(
                f"| {rows:,} | {measured['seconds']:.1f} | {rows / measured['seconds']:,.0f} | "
                f"{measured['cpu_seconds']:.1f} | {rows / measured['cpu_seconds']:,.0f} | "
                f"{measured['peak_rss_mib']:,.0f} | {output.stat().st_size / 1e6:,.0f} |"
            )
            print(lines[-1], file=sys.stderr)
            path.unlink()
    report(lines, f"model {Path(options.model_dir).name}, batch {options.batch_size}, backend {options.backend}")


def report(lines: list[str], what: str, load_at_start: float | None = None) -> None:
    import onnxruntime
    import torch
    import transformers

    print(f"\n{what}\n")
    print("\n".join(lines))
    print(f"\n```bash\npython {shlex.join(['benchmarks/inference_speed.py', *sys.argv[1:]])}\n```")
    load = os.getloadavg()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, shared (load average "
        + ("" if load_at_start is None else f"{load_at_start:.1f} at the start, ")
        + f"{load[0]:.1f} at the end); "
        f"torch {torch.__version__}, transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}. "
        f"Date: {date.today().isoformat()}."
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get("TEXTCLS_DATA_DIR", "../shared/data"))
    commands = parser.add_subparsers(dest="command", required=True)
    split = commands.add_parser("split", help="Write the AG News train/validation/test CSVs the models use.")
    split.add_argument("--out_dir", required=True)
    table = commands.add_parser("compare", help="pipeline against predict.py's backends on the same texts.")
    table.add_argument("--model_dir", required=True)
    table.add_argument("--texts", required=True, help="A CSV with text and label columns, or 20newsgroups.")
    table.add_argument("--rows", type=int, default=2000)
    table.add_argument("--batch_size", type=int, default=32)
    table.add_argument("--pipeline_batch_size", type=int, default=32)
    table.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    table.add_argument("--no_pipeline", action="store_true", help="Leave out the transformers pipeline row.")
    table.add_argument("--num_threads", type=int, help="predict.py's --num_threads (default: its own).")
    grow = commands.add_parser("scale", help="predict.py on 10,000 then 1,000,000 rows: flat memory?")
    grow.add_argument("--model_dir", required=True)
    grow.add_argument("--texts", required=True, help="A CSV with a text column (its texts are repeated).")
    grow.add_argument("--rows", dest="rows_list", type=int, nargs="+", default=[10_000, 1_000_000])
    grow.add_argument("--batch_size", type=int, default=256)
    grow.add_argument("--backend", default="torch")
    grow.add_argument("--num_threads", type=int, help="predict.py's --num_threads (default: its own).")
    options = parser.parse_args()
    if options.command == "split":
        write_split(Path(options.out_dir), options.data_dir)
    elif options.command == "compare":
        compare(options)
    else:
        scale(options)


if __name__ == "__main__":
    main()
