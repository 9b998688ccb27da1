#!/usr/bin/env python
"""Training and evaluation speed: our defaults against transformers' example-script defaults.

    python benchmarks/throughput.py --dataset ag_news
    python benchmarks/throughput.py --dataset 20newsgroups --max_steps 50

Three settings, the same model (MiniLM-L6), rows, batch size and number of optimizer steps:
  1. pad every text to max_seq_length, random batches, default_data_collator (run_glue.py's default);
  2. pad each batch to its longest text (DataCollatorWithPadding), still random batches;
  3. as 2, plus train_sampling_strategy="group_by_length" and an evaluation set sorted by length:
     what run_classification.py does.
Speeds are wall-clock: rows processed divided by the seconds `trainer.train()` / `trainer.evaluate()`
take, everything included (sampler, collation, forward, backward, optimizer step).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from datasets import Dataset, DatasetDict
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback

from data_scripts import load_corpus, read_ag_news_csv_dir, stratified_sample
from data_scripts.splits import labels_of, stratified_indices
from modeling.hub import resolve_model_path
from textcls_errors import TextclsError
from training.metrics import compute_metrics
from training.preprocessing import tokenize_corpus
from training.trainer import ClassificationTrainer, sort_by_length

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = {"ag_news": 128, "20newsgroups": 256}
# transformers' LengthGroupedSampler sorts "mega-batches" of up to 50 batches by length, longest first.
MEGA_BATCH_MULT = 50


@dataclass
class Setting:
    name: str
    pad_to_max_length: bool
    train_sampling_strategy: str
    sort_eval: bool


SETTINGS = [
    Setting("pad to max_seq_length, random batches (transformers examples)", True, "random", False),
    Setting("dynamic padding, random batches", False, "random", False),
    Setting("dynamic padding + group_by_length + sorted eval (ours)", False, "group_by_length", True),
]


@dataclass
class Result:
    dataset: str
    setting: Setting
    train_rows_per_s: float
    eval_rows_per_s: float
    train_seconds: float
    eval_seconds: float
    train_padded_length: float
    train_padding_share: float
    eval_padded_length: float


class RecordingCollator:
    """Wraps a data collator and records each batch's padded length and its real (unpadded) tokens."""

    def __init__(self, collator):
        self.collator = collator
        self.batches: list[tuple[int, int, int]] = []  # (rows, padded length, real tokens)

    def __call__(self, features):
        batch = self.collator(features)
        rows, length = batch["input_ids"].shape
        self.batches.append((rows, length, int(batch["attention_mask"].sum())))
        return batch

    def summary(self, n_batches: int | None = None) -> tuple[float, float]:
        """Mean padded length per batch, and the share of all positions that are padding (first n batches)."""
        batches = np.array(self.batches[:n_batches], dtype=float)
        padded = (batches[:, 0] * batches[:, 1]).sum()
        return float(batches[:, 1].mean()), float(1 - batches[:, 2].sum() / padded)


class StepClock(TrainerCallback):
    """Notes when the first optimizer step begins: what comes before it is set-up (sampler, optimizer)."""

    def __init__(self):
        self.first_step_begin: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.first_step_begin is None:
            self.first_step_begin = time.perf_counter()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["ag_news", "20newsgroups", "both"], default="ag_news")
    parser.add_argument(
        "--data_dir",
        default=os.environ.get("TEXTCLS_DATA_DIR"),
        help="folder holding ag_news/test.csv and 20newsgroups/20news-bydate.tar.gz (default: $TEXTCLS_DATA_DIR)",
    )
    parser.add_argument(
        "--max_steps",
        type=int,
        default=50,
        help="optimizer steps per setting. 50 = one LengthGroupedSampler mega-batch (50 batches sorted "
        "longest first): fewer steps see only its longer rows and understate length grouping.",
    )
    parser.add_argument("--batch_size", type=int, default=32, help="train and eval batch size")
    parser.add_argument("--eval_rows", type=int, default=512, help="rows evaluated per setting (held out of train)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("--data_dir: not given and $TEXTCLS_DATA_DIR is unset; point it at the shared data folder.")
    for name in ("max_steps", "batch_size", "eval_rows"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name}={getattr(args, name)}: expected a positive whole number.")
    return args


def load_rows(dataset: str, data_dir: Path, eval_rows: int, seed: int) -> DatasetDict:
    """Train rows and `eval_rows` held-out rows (text, label), stratified and seeded."""
    if dataset == "ag_news":
        # The shared copy has only test.csv (7,600 rows): hold eval rows out of it, train on the rest.
        rows = read_ag_news_csv_dir(data_dir / "ag_news")["test"]
        held_out = stratified_indices(labels_of(rows), eval_rows, seed)
        kept = np.setdiff1d(np.arange(len(rows)), held_out, assume_unique=True)
        return DatasetDict(train=rows.select(kept), eval=rows.select(held_out))
    corpus = load_corpus("20newsgroups", data_dir=str(data_dir / "20newsgroups"), seed=seed)
    return DatasetDict(train=corpus["train"], eval=stratified_sample(corpus["validation"], eval_rows, seed))


def run_setting(
    setting: Setting,
    dataset_name: str,
    tokenized: DatasetDict,
    tokenizer,
    model_path: str,
    num_labels: int,
    args: argparse.Namespace,
    output_dir: str,
) -> Result:
    """Train `max_steps` steps and evaluate once with one setting; wall-clock both."""
    inner = default_data_collator if setting.pad_to_max_length else DataCollatorWithPadding(tokenizer)
    collator = RecordingCollator(inner)
    eval_dataset: Dataset = tokenized["eval"]
    if setting.sort_eval:
        eval_dataset, _ = sort_by_length(eval_dataset)
    training_args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        max_steps=args.max_steps,
        train_sampling_strategy=setting.train_sampling_strategy,
        seed=args.seed,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
    )
    set_seed(args.seed)  # the same classification head for every setting
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)
    trainer = ClassificationTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=compute_metrics,
        callbacks=[clock := StepClock()],
    )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm prints every log dict otherwise
    start = time.perf_counter()
    train_result = trainer.train()
    train_seconds = time.perf_counter() - start
    setup_seconds = clock.first_step_begin - start
    # accelerate's data loader collates one batch ahead, so the collator saw one batch more than was trained.
    train_padded_length, train_padding_share = collator.summary(args.max_steps)
    trained_rows = sum(rows for rows, _, _ in collator.batches[: args.max_steps])

    collator.batches.clear()
    start = time.perf_counter()
    metrics = trainer.evaluate(eval_dataset)
    eval_seconds = time.perf_counter() - start
    eval_padded_length, _ = collator.summary()
    print(
        f"  {setting.name}: train {train_seconds:.1f} s for {trained_rows} rows "
        f"(set-up before the first step {setup_seconds:.1f} s; "
        f"Trainer's own train_samples_per_second {train_result.metrics['train_samples_per_second']:.2f}), "
        f"eval {eval_seconds:.1f} s for {len(eval_dataset)} rows (accuracy after {args.max_steps} steps "
        f"{metrics['eval_accuracy']:.3f})",
        flush=True,
    )
    return Result(
        dataset_name,
        setting,
        trained_rows / train_seconds,
        len(eval_dataset) / eval_seconds,
        train_seconds,
        eval_seconds,
        train_padded_length,
        train_padding_share,
        eval_padded_length,
    )


def command_line() -> str:
    """The command as typed, with TEXTCLS_DATA_DIR in front when it decides where the data comes from."""
    command = shlex.join(["python", *sys.argv])
    if "--data_dir" not in sys.argv and os.environ.get("TEXTCLS_DATA_DIR"):
        command = f"TEXTCLS_DATA_DIR={shlex.quote(os.environ['TEXTCLS_DATA_DIR'])} {command}"
    return command


def print_table(results: list[Result], notes: list[str], args: argparse.Namespace) -> None:
    print()
    print(
        "| dataset | setting | train rows/s | × | eval rows/s | × | mean padded length, train batches "
        "| padding share, train | mean padded length, eval batches |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        base = next(r for r in results if r.dataset == result.dataset and r.setting.pad_to_max_length)
        print(
            f"| {result.dataset} | {result.setting.name} | {result.train_rows_per_s:.1f} "
            f"| {result.train_rows_per_s / base.train_rows_per_s:.2f} | {result.eval_rows_per_s:.1f} "
            f"| {result.eval_rows_per_s / base.eval_rows_per_s:.2f} | {result.train_padded_length:.0f} "
            f"| {result.train_padding_share:.0%} | {result.eval_padded_length:.0f} |"
        )
    print()
    for note in notes:
        print(note)
    print(
        f"Each setting: {args.max_steps} optimizer steps of {args.batch_size} rows, then one evaluation of "
        f"{args.eval_rows} rows (batch {args.batch_size}). rows/s = rows / wall-clock seconds of trainer.train() "
        "or trainer.evaluate(); × = relative to the pad-to-max_seq_length row."
    )
    print(f"Command: `{command_line()}`")
    cpu = platform.processor() or platform.machine()
    print(
        f"Machine: {cpu}, {os.cpu_count()} CPUs, no GPU; torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, transformers {transformers.__version__}. Date: {date.today().isoformat()}."
    )


def main(argv: list[str] | None = None) -> list[Result]:
    args = parse_args(argv)
    transformers.logging.set_verbosity_error()  # no load report for the new classification head
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets_to_run = ["ag_news", "20newsgroups"] if args.dataset == "both" else [args.dataset]
    model_path = resolve_model_path(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    results: list[Result] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="textcls-throughput-") as scratch:
        for dataset_name in datasets_to_run:
            rows = load_rows(dataset_name, Path(args.data_dir), args.eval_rows, args.seed)
            max_seq_length = MAX_SEQ_LENGTH[dataset_name]
            needed = args.max_steps * args.batch_size
            if needed > len(rows["train"]):
                raise TextclsError(
                    f"--max_steps={args.max_steps} × --batch_size={args.batch_size} = {needed} rows, more than the "
                    f"{len(rows['train'])} training rows of {dataset_name}: lower --max_steps."
                )
            tokenized = {
                pad: tokenize_corpus(
                    rows, tokenizer, max_seq_length=max_seq_length, pad_to_max_length=pad, cache_dir=scratch
                )
                for pad in (False, True)
            }
            lengths = np.asarray(tokenized[False]["train"]["length"])
            mega_batch = min(len(lengths) // (args.batch_size * 4), MEGA_BATCH_MULT) or 1
            notes.append(
                f"{dataset_name}: max_seq_length {max_seq_length}, {len(rows['train'])} train rows "
                f"(token length median {np.median(lengths):.0f}, mean {lengths.mean():.0f} after truncation; "
                f"{(lengths >= max_seq_length).mean():.0%} truncated), {len(rows['eval'])} eval rows. "
                f"group_by_length mega-batch: {mega_batch} batches; {args.max_steps} steps cover "
                f"{args.max_steps / mega_batch:.2f} of them."
            )
            print(notes[-1], flush=True)
            num_labels = rows["train"].features["label"].num_classes
            for setting in SETTINGS:
                results.append(
                    run_setting(
                        setting,
                        dataset_name,
                        tokenized[setting.pad_to_max_length],
                        tokenizer,
                        model_path,
                        num_labels,
                        args,
                        str(Path(scratch) / "trainer"),
                    )
                )
    print_table(results, notes, args)
    return results


if __name__ == "__main__":
    try:
        main()
    except TextclsError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
