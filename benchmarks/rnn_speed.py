#!/usr/bin/env python
"""Training-step speed of the RNN classifier: the padded path it trains with, the packed path it replaced, and a
bare padded `nn.LSTM` (what PyTorch's fastest kernel costs), side by side at the same batch shape.

    python benchmarks/rnn_speed.py                       # BiLSTM 50 -> 128, batch 32 x 400 tokens, 2 threads
    python benchmarks/rnn_speed.py --cell gru --steps 3
    python benchmarks/rnn_speed.py --threads 1 --no_packed
    python benchmarks/rnn_speed.py --threads 1 2 --no_packed --loader   # threads and DataLoader workers

One step is forward + backward of a classification loss (embeddings, recurrent layers, max-pool, linear layer),
no optimizer. The variants run in turns (one step of each, again and again, each thread count in turn), so that a
change in the machine's load hits all of them alike; the table gives the median wall and CPU seconds per step. With
one thread, the CPU seconds are about what the step takes on an idle core, whatever the load. The bare `nn.LSTM`
reads the padding of every text as if it were words (wrong for the backward direction), so it is a speed reference
only. `--loader` adds our step with its batch taken from a DataLoader that pads token-id rows with
`DataCollatorWithPadding`, as the Trainer's does, with 0 and with 1 worker process.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import torch
from torch.nn import functional
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repository

from modeling import LstmConfig, LstmForSequenceClassification, LstmModel  # noqa: E402
from modeling.word_tokenizer import build_word_tokenizer  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=400, help="padded length of the batch (its longest text)")
    parser.add_argument(
        "--shortest", type=float, default=0.9, help="the shortest text, as a share of seq_len (length grouping)"
    )
    parser.add_argument("--embedding_dim", type=int, default=50)
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--num_layers", type=int, default=1)
    parser.add_argument("--unidirectional", action="store_true")
    parser.add_argument("--vocab_size", type=int, default=20000)
    parser.add_argument("--num_labels", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant, after one warm-up step")
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="torch thread counts, taken in turns")
    parser.add_argument("--no_packed", action="store_true", help="skip the (slow) packed path")
    parser.add_argument(
        "--loader", action="store_true", help="add our step fed by a DataLoader with 0 and with 1 worker process"
    )
    return parser


def make_batch(options: argparse.Namespace) -> dict[str, torch.Tensor]:
    """Right-padded token ids with lengths spread from `shortest * seq_len` to `seq_len`, and labels."""
    generator = torch.Generator().manual_seed(0)
    shortest = max(1, int(options.shortest * options.seq_len))
    lengths = torch.randint(shortest, options.seq_len + 1, (options.batch_size,), generator=generator)
    lengths[0] = options.seq_len
    steps = torch.arange(options.seq_len)[None, :]
    attention_mask = (steps < lengths[:, None]).long()
    input_ids = torch.randint(1, options.vocab_size, (options.batch_size, options.seq_len), generator=generator)
    labels = torch.randint(0, options.num_labels, (options.batch_size,), generator=generator)
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask, "labels": labels}


def batches_from_a_loader(batch: dict[str, torch.Tensor], workers: int) -> Iterator[dict[str, torch.Tensor]]:
    """The batch's texts as unpadded token-id rows (what `datasets.map` hands the Trainer), padded again batch by
    batch by `DataCollatorWithPadding` in a DataLoader with `workers` processes; endless."""
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    rows = [
        {"input_ids": ids[:length].tolist(), "labels": int(label)}
        for ids, length, label in zip(batch["input_ids"], lengths, batch["labels"], strict=True)
    ]
    tokenizer = build_word_tokenizer(["only the padding token matters here"])
    loader = DataLoader(
        rows * 8,  # a few batches per pass, so that a worker keeps fetching ahead
        batch_size=len(rows),
        collate_fn=DataCollatorWithPadding(tokenizer),
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    while True:
        yield from loader


def model_step(
    model: LstmForSequenceClassification,
    batch: dict[str, torch.Tensor],
    packed: bool,
    batches: Iterator[dict[str, torch.Tensor]] | None = None,
) -> Callable:
    """One forward + backward of the project's model, reading the batch padded (as it trains) or packed; with
    `batches`, the batch is taken from there first."""
    run = LstmModel._run_packed if packed else LstmModel._run_padded

    def step() -> None:
        model.lstm._run_padded = run.__get__(model.lstm)  # this instance only
        model.zero_grad(set_to_none=True)
        model(**(next(batches) if batches is not None else batch)).loss.backward()

    return step


def bare_step(model: LstmForSequenceClassification, batch: dict[str, torch.Tensor], options) -> Callable:
    """One forward + backward of a bare nn.LSTM/GRU/RNN on the padded batch, same sizes and head."""
    rnn = type(model.lstm.rnn)(
        options.embedding_dim,
        options.hidden_size,
        num_layers=options.num_layers,
        bidirectional=not options.unidirectional,
        batch_first=True,
    )
    embeddings, classifier = model.lstm.embeddings, model.classifier

    def step() -> None:
        rnn.zero_grad(set_to_none=True)
        outputs = rnn(embeddings(batch["input_ids"]))[0]
        functional.cross_entropy(classifier(outputs.amax(dim=1)), batch["labels"]).backward()

    return step


def main() -> None:
    options = build_parser().parse_args()
    torch.manual_seed(0)
    config = LstmConfig(
        vocab_size=options.vocab_size,
        embedding_dim=options.embedding_dim,
        cell=options.cell,
        hidden_size=options.hidden_size,
        num_layers=options.num_layers,
        bidirectional=not options.unidirectional,
        pooling="max",
        dropout=0.0,  # the same computation in every variant
        num_labels=options.num_labels,
    )
    model = LstmForSequenceClassification(config).train()
    batch = make_batch(options)
    bare_name = f"bare padded nn.{type(model.lstm.rnn).__name__} (speed reference, not exact)"
    variants = {
        bare_name: bare_step(model, batch, options),
        "textcls, padded per direction (**ours**)": model_step(model, batch, packed=False),
    }
    if not options.no_packed:
        variants["textcls, packed (`pack_padded_sequence`, before)"] = model_step(model, batch, packed=True)
    if options.loader:
        for workers in (0, 1):
            name = f"ours, batch from a DataLoader, {workers} worker{'s' * (workers != 1)}"
            variants[name] = model_step(model, batch, packed=False, batches=batches_from_a_loader(batch, workers))
    runs = [(threads, name) for threads in options.threads for name in variants]
    for threads, name in runs:  # warm-up: kernel selection, allocations, worker start-up
        torch.set_num_threads(threads)
        variants[name]()
    wall: dict[tuple[int, str], list[float]] = {run: [] for run in runs}
    cpu: dict[tuple[int, str], list[float]] = {run: [] for run in runs}
    for _ in range(options.steps):
        for threads, name in runs:
            torch.set_num_threads(threads)
            started, started_cpu = time.perf_counter(), time.process_time()
            variants[name]()
            wall[threads, name].append(time.perf_counter() - started)
            cpu[threads, name].append(time.process_time() - started_cpu)

    direction = "uni" if options.unidirectional else "bi"
    lengths = batch["attention_mask"].sum(dim=1)
    print(
        f"{options.cell.upper()}, {options.num_layers} layer(s), {direction}directional, "
        f"{options.embedding_dim} -> {options.hidden_size}, batch {options.batch_size} x {options.seq_len} "
        f"(texts of {lengths.min().item()}-{lengths.max().item()} tokens), forward + backward, "
        f"median of {options.steps} steps\n"
    )
    print("| torch threads | path | wall s per step | CPU s per step | × bare padded (wall) |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for threads, name in runs:
        bare = statistics.median(wall[threads, bare_name])
        median = statistics.median(wall[threads, name])
        print(
            f"| {threads} | {name} | {median:.3f} | {statistics.median(cpu[threads, name]):.3f} | {median / bare:.2f} |"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    threads = "/".join(str(count) for count in options.threads)
    print(
        f"\nCPU seconds are this process's (all its threads; not a DataLoader worker's).\n"
        f"Command: python {shlex.join(['benchmarks/rnn_speed.py', *sys.argv[1:]])}\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({threads} threads); "
        f"load average after the run {load}. Date: {date.today()}."
    )


if __name__ == "__main__":
    main()
