#!/usr/bin/env python
"""The seed notebooks' word-level experiments, run through run_classification.py, written to RESULTS.md.

    python benchmarks/seed_grid.py                       # reference configs + the whole LSTM grid
    python benchmarks/seed_grid.py --only reference      # GloVe / LSTM configs only
    python benchmarks/seed_grid.py --only grid --max_seq_lengths 30 100 --cells lstm
    python benchmarks/seed_grid.py --rows 'grid_lstm_100_50d_*' lstm_20ng   # re-measure rows of RESULTS.md

The LSTM seed varied the sequence length (30/50/100), the embedding size (50/100/200), the cell (LSTM or
a simple RNN) and the embeddings (pretrained and frozen, or random and trained); the GloVe seed trained a
mean-pool classifier on 6 groups. Each point here is one `run_classification.py` run on the 20NG bydate
split (validation = 10 % of train, seeded; scores on the official test split), next to TF-IDF + LinearSVC
fitted on the same rows. Finished runs are read back from their output folder when their arguments and their
config file's contents are those recorded there, so an interrupted grid continues where it stopped (`--rerun`
trains them again).

Without `--rows` the results file is written whole (every baseline refitted). With `--rows` only the chosen runs
(names or shell patterns: glove_20ng, grid_lstm_100_50d_frozen, 'grid_*_30_*') are trained and only their table
rows are replaced (added when missing); the rest of the file, notes included, stays, and a line at its end says
which rows were updated, when and how. Their TF-IDF cells are kept unless `--baselines` refits them.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import logging
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import baseline_tfidf  # noqa: E402  (benchmarks/ is on sys.path when this file runs as a script)

import run_classification  # noqa: E402

# Published or seed figures shown beside ours (same corpus: 20NG bydate test split).
SEED_GLOVE_6CLASS = 0.795  # seed notebook: GloVe mean-pool, 6 groups
SEED_LSTM = 0.673  # seed notebook: Keras LSTM, 20 groups
# Embedding sizes beyond the packaged 50d come from gensim's downloader (network needed).
VECTORS_BY_DIM = {50: "glove.6B.50d", 100: "glove-wiki-gigaword-100", 200: "glove-wiki-gigaword-200"}
SIX_GROUPS_CONFIG = "glove_20ng_6class.json"
ARGV_FILE = "seed_grid_argv.json"  # next to each run's results: the arguments that produced them
# next to each run's results: this process's CPU seconds for the whole run (data, training, evaluation, test);
# with one torch thread about the run's wall time on an otherwise idle core, whatever the load was
CPU_FILE = "seed_grid_cpu_seconds.json"


@dataclass
class Run:
    name: str
    config: str
    overrides: list[str]
    description: dict[str, str]
    seed_figure: float | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", help="20newsgroups folder (default: $TEXTCLS_DATA_DIR/20newsgroups)")
    parser.add_argument("--output_dir", default="outputs/seed_grid", help="one sub-folder per run")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "RESULTS.md"), help="the table written")
    parser.add_argument("--only", choices=["reference", "grid"], help="run one part only")
    parser.add_argument("--max_seq_lengths", type=int, nargs="+", default=[30, 50, 100, 300])
    parser.add_argument("--embedding_dims", type=int, nargs="+", default=[50], choices=sorted(VECTORS_BY_DIM))
    parser.add_argument("--cells", nargs="+", default=["lstm", "rnn"], choices=["lstm", "gru", "rnn"])
    parser.add_argument("--inits", nargs="+", default=["frozen", "random"], choices=["frozen", "random", "tuned"])
    parser.add_argument("--grid_epochs", type=int, default=8, help="epochs per grid point (early stopping on)")
    parser.add_argument("--max_train_samples", type=int, help="stratified sample of train, for a quick look")
    parser.add_argument("--rerun", action="store_true", help="train again even when a run's results exist")
    parser.add_argument(
        "--rows",
        nargs="+",
        metavar="NAME",
        help="run only these runs (names or shell patterns, e.g. 'grid_lstm_100_*') and replace only their rows in "
        "--results, which must exist",
    )
    parser.add_argument(
        "--baselines", action="store_true", help="with --rows: refit the TF-IDF baselines of the chosen rows too"
    )
    args = parser.parse_args(argv)
    if args.baselines and not args.rows:
        parser.error("--baselines goes with --rows (a whole table always refits its baselines)")
    if args.rows and not Path(args.results).is_file():
        parser.error(f"--rows updates rows of an existing results file, and {args.results} is not one")
    return args


def select_runs(runs: list[Run], patterns: list[str]) -> list[Run]:
    """The runs whose name matches one of `patterns` (shell-style), in grid order; a pattern that matches none
    exits with the names there are, so that a typo does not run nothing quietly."""
    names = [run.name for run in runs]
    unmatched = [pattern for pattern in patterns if not fnmatch.filter(names, pattern)]
    if unmatched:
        raise SystemExit(
            f"seed_grid.py: error: --rows {' '.join(unmatched)} matches no run of this grid; its runs are: "
            + ", ".join(names)
        )
    return [run for run in runs if any(fnmatch.fnmatchcase(run.name, pattern) for pattern in patterns)]


def reference_runs() -> list[Run]:
    return [
        Run("glove_20ng", "glove_20ng.json", [], {"model": "GloVe mean-pool", "classes": "20"}),
        Run(
            "glove_20ng_6class",
            SIX_GROUPS_CONFIG,
            [],
            {"model": "GloVe mean-pool", "classes": "6"},
            SEED_GLOVE_6CLASS,
        ),
        Run("lstm_20ng", "lstm_20ng.json", [], {"model": "BiLSTM, max-pool", "classes": "20"}, SEED_LSTM),
        Run(
            "glove_20ng_no_headers",
            "glove_20ng.json",
            ["--remove", "headers", "footers", "quotes"],
            {"model": "GloVe mean-pool, headers/footers/quotes removed", "classes": "20"},
        ),
    ]


def grid_runs(args: argparse.Namespace) -> list[Run]:
    runs = []
    for length in args.max_seq_lengths:
        for dim in args.embedding_dims:
            for cell in args.cells:
                for init in args.inits:
                    overrides = ["--max_seq_length", str(length), "--cell", cell, "--num_train_epochs"]
                    overrides += [str(args.grid_epochs)]
                    if init == "random":
                        overrides += ["--embedding_init", "random", "--embedding_dim", str(dim)]
                    else:
                        overrides += ["--word_vectors", VECTORS_BY_DIM[dim]]
                        overrides += ["--freeze_embeddings", str(init == "frozen").lower()]
                    runs.append(
                        Run(
                            f"grid_{cell}_{length}_{dim}d_{init}",
                            "lstm_20ng.json",
                            overrides,
                            {"max_seq_length": str(length), "dim": str(dim), "cell": cell, "embeddings": init},
                        )
                    )
    return runs


def run_record(run: Run, argv: list[str]) -> dict:
    """What a run's results depend on, as ARGV_FILE records it: its arguments (checkout-free) and its config's bytes."""
    config = hashlib.sha256((REPO / "configs" / run.config).read_bytes()).hexdigest()
    return {"argv": checkout_free(argv), "config_sha256": config}


def checkout_free(argv: list[str]) -> list[str]:
    """argv with a shipped config's absolute path as configs/NAME: the same run from another checkout of this
    repository (a worktree, a fresh clone) is the same run, not one whose finished results must be deleted."""
    return [
        f"configs/{Path(arg).name}" if Path(arg).is_absolute() and Path(arg).parent.name == "configs" else arg
        for arg in argv
    ]


def run_once(run: Run, args: argparse.Namespace) -> dict[str, float] | str:
    """Train (or read back) one run: its results, or why it could not run here."""
    output_dir = Path(args.output_dir) / run.name
    results_file, argv_file, cpu_file = output_dir / "all_results.json", output_dir / ARGV_FILE, output_dir / CPU_FILE
    argv = [str(REPO / "configs" / run.config), *run.overrides, "--output_dir", str(output_dir)]
    argv += ["--report_to", "none", "--save_total_limit", "1"]
    if args.data_dir:
        argv += ["--data_dir", args.data_dir]
    if args.max_train_samples:
        argv += ["--max_train_samples", str(args.max_train_samples)]
    # Results are reused only when they came from these very arguments (a changed sample size or
    # epoch count trains again), wherever this repository is checked out.
    # The config's contents count too: a run of an edited config (same path) is another run.
    recorded = json.loads(argv_file.read_text()) if argv_file.exists() else {}
    same_arguments = isinstance(recorded, dict) and run_record(run, argv) == recorded | {
        "argv": checkout_free(recorded.get("argv", []))
    }
    if results_file.exists() and same_arguments and not args.rerun:
        results = json.loads(results_file.read_text())
        return results | (json.loads(cpu_file.read_text()) if cpu_file.exists() else {})
    if output_dir.exists() and (args.rerun or not same_arguments):
        shutil.rmtree(output_dir)  # otherwise the run would resume from checkpoints of other arguments
    print(f"== {run.name}: {shlex.join(argv)}", flush=True)
    started_cpu = time.process_time()
    try:
        results = run_classification.main(argv)
    except run_classification.TextclsError as error:
        print(f"   skipped: {error}", flush=True)
        return str(error)
    cpu = {"cpu_seconds": time.process_time() - started_cpu, "torch_threads": torch.get_num_threads()}
    argv_file.write_text(json.dumps(run_record(run, argv)))
    cpu_file.write_text(json.dumps(cpu))
    return results | cpu


def baseline(args: argparse.Namespace, categories: list[str] | None, remove: list[str] | None) -> str:
    """The TF-IDF + LinearSVC test accuracy on the same split, as a table cell."""
    argv = ["--dataset_name", "20newsgroups"]
    argv += ["--data_dir", args.data_dir] if args.data_dir else []
    argv += ["--categories", *categories] if categories else []
    argv += ["--remove", *remove] if remove else []
    argv += ["--max_train_samples", str(args.max_train_samples)] if args.max_train_samples else []
    test_row = next(row for row in baseline_tfidf.main(argv) if row.split == "test")
    return f"{test_row.accuracy:.2%}"


def cell(results: dict[str, float] | str, key: str, fmt: str = "{:.2%}") -> str:
    return fmt.format(results[key]) if isinstance(results, dict) and key in results else "–"


REFERENCE_SECTION = "## Shipped configs"
GRID_SECTION = "## The LSTM seed's grid"
# The cells that name a row of each table (the model and its classes; the grid point), matched by --rows.
REFERENCE_KEY = (0, 2)
GRID_KEY = (0, 1, 2, 3)
REFERENCE_BASELINE_COLUMN = 5


def baseline_key(run: Run) -> str:
    """Which TF-IDF baseline a reference run is compared with."""
    return "no_headers" if "--remove" in run.overrides else run.description["classes"]


def baselines(args: argparse.Namespace, keys: set[str]) -> dict[str, str]:
    """The TF-IDF + LinearSVC test accuracy cells for these baseline keys."""
    six_groups = json.loads((REPO / "configs" / SIX_GROUPS_CONFIG).read_text())["categories"]
    settings = {"20": (None, None), "6": (six_groups, None), "no_headers": (None, ["headers", "footers", "quotes"])}
    return {key: baseline(args, *settings[key]) for key in sorted(keys)}


def reference_cells(run: Run, results: dict[str, float] | str, baseline_cell: str | None) -> list[str | None]:
    """One row of the shipped-configs table; a None baseline cell keeps the one the results file has."""
    seed = f"{run.seed_figure:.1%}" if run.seed_figure else "–"
    extra = f" `{' '.join(run.overrides)}`" if run.overrides else ""
    return [
        run.description["model"],
        f"`configs/{run.config}`{extra}",
        run.description["classes"],
        cell(results, "test_accuracy"),
        cell(results, "test_macro_f1"),
        baseline_cell,
        seed,
        cell(results, "train_runtime", "{:.0f}"),
    ]


def grid_cells(run: Run, results: dict[str, float] | str) -> list[str]:
    """One row of the grid table."""
    d = run.description
    point = [d["max_seq_length"], d["dim"], d["cell"], d["embeddings"]]
    if isinstance(results, str):
        return [*point, "not run: " + results.splitlines()[0].replace("|", "/")[:120], "", "", ""]
    return [
        *point,
        cell(results, "test_accuracy"),
        cell(results, "test_macro_f1"),
        cell(results, "train_runtime", "{:.0f}"),
        cell(results, "cpu_seconds", "{:.0f}"),
    ]


def table_row(cells: list[str]) -> str:
    return "|" + "|".join(f" {value} " if value else " " for value in cells) + "|"


def row_cells(line: str) -> list[str]:
    return [value.strip() for value in line.strip().strip("|").split("|")]


def merge_row(text: str, section: str, cells: list[str | None], key: tuple[int, ...]) -> str:
    """`text` with the row of `section`'s table whose `key` cells equal those of `cells` replaced by `cells` (a None
    cell keeps the old value), or the row added at the table's end when it has none."""
    lines = text.split("\n")
    if section not in lines:
        raise SystemExit(f"seed_grid.py: error: the results file has no {section!r} table; run without --rows")
    start = lines.index(section)
    rows = []  # the indexes of the section's table rows, header and rule excluded
    for index in range(start + 1, len(lines)):
        if lines[index].startswith("## "):
            break
        if lines[index].startswith("|"):
            rows.append(index)
        elif rows:
            break
    body = rows[2:]
    wanted = [cells[i] for i in key]
    for index in body:
        old = row_cells(lines[index])
        if [old[i] for i in key] == wanted:
            lines[index] = table_row([old[i] if value is None else value for i, value in enumerate(cells)])
            return "\n".join(lines)
    if not rows:
        raise SystemExit(f"seed_grid.py: error: the {section!r} section of the results file holds no table")
    lines.insert(rows[-1] + 1, table_row(["–" if value is None else value for value in cells]))
    return "\n".join(lines)


def update_rows(
    text: str,
    references: list[tuple[Run, dict[str, float] | str]],
    grid: list[tuple[Run, dict[str, float] | str]],
    baseline_cells: dict[str, str],
    command: str,
) -> str:
    """The results file with the rows of these runs replaced, and a line at its end that says so."""
    for run, results in references:
        cells = reference_cells(run, results, baseline_cells.get(baseline_key(run)))
        text = merge_row(text, REFERENCE_SECTION, cells, REFERENCE_KEY)
    for run, results in grid:
        text = merge_row(text, GRID_SECTION, grid_cells(run, results), GRID_KEY)
    names = ", ".join(run.name for run, _ in [*references, *grid])
    kept = "" if baseline_cells or not references else "; TF-IDF cells kept"
    note = f"Rows updated {date.today().isoformat()} ({names}{kept}): `{command}`. {machine()}"
    return text.rstrip("\n") + "\n\n" + note + "\n"


def machine() -> str:
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)."
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("transformers").setLevel(logging.WARNING)
    references = reference_runs() if args.only != "grid" else []
    grid = grid_runs(args) if args.only != "reference" else []
    if args.rows:
        chosen = select_runs(references + grid, args.rows)
        references, grid = [run for run in references if run in chosen], [run for run in grid if run in chosen]
    reference_results = {run.name: run_once(run, args) for run in references}
    grid_results = {run.name: run_once(run, args) for run in grid}
    command = shlex.join(["python", "benchmarks/seed_grid.py", *(argv if argv is not None else sys.argv[1:])])

    if args.rows:
        keys = {baseline_key(run) for run in references} if args.baselines else set()
        text = update_rows(
            Path(args.results).read_text(),
            [(run, reference_results[run.name]) for run in references],
            [(run, grid_results[run.name]) for run in grid],
            baselines(args, keys),
            command,
        )
        Path(args.results).write_text(text)
        print(text)
        return

    baseline_cells = baselines(args, {"20", "6", "no_headers"})
    lines = [
        "# Word-level models on 20 Newsgroups: the seeds' numbers beside ours",
        "",
        "20 Newsgroups bydate, scored once on the official test split (7,532 documents for 20 classes); the",
        "validation split (10 % of train, seed 42) picks the best epoch. TF-IDF + LinearSVC is fitted on the",
        "same training rows (`benchmarks/baseline_tfidf.py`, setting chosen on validation). The GloVe seed's",
        "notebook does not name its 6 groups; `configs/glove_20ng_6class.json` picks 6 distinct topics, so that",
        "row compares the setting, not the very same data.",
        "",
        REFERENCE_SECTION,
        "",
        "| model | config | classes | test accuracy | test macro-F1 | TF-IDF + LinearSVC | seed notebook | train s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in references:
        cells = reference_cells(run, reference_results[run.name], baseline_cells[baseline_key(run)])
        lines.append(table_row(cells))
    if grid:
        lines += [
            "",
            GRID_SECTION,
            "",
            f"`configs/lstm_20ng.json` with the overrides in each row, at most {args.grid_epochs} epochs (early "
            f"stopping on validation macro-F1). Seed notebook (Keras LSTM): {SEED_LSTM:.1%}. TF-IDF + LinearSVC: "
            f"{baseline_cells['20']}. 'frozen' = GloVe vectors kept fixed, 'tuned' = GloVe vectors trained, 'random' = "
            "embeddings trained from scratch.",
            "",
            "| max_seq_length | dim | cell | embeddings | test accuracy | test macro-F1 | train s | CPU s |",
            "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        lines += [table_row(grid_cells(run, grid_results[run.name])) for run in grid]
        lines += [
            "",
            "CPU s: the whole run's process CPU seconds, data preparation, evaluation and test included; with one "
            "torch thread (`OMP_NUM_THREADS=1`) about its wall time alone on one core, whatever the load.",
        ]
    sample = f" Training on a stratified sample of {args.max_train_samples} rows." if args.max_train_samples else ""
    lines += [
        "",
        f"Command: `{command}` (with `TEXTCLS_DATA_DIR` pointing at the data).{sample}",
        f"{machine()[:-1]}. Date: {date.today().isoformat()}.",
        "",
    ]
    Path(args.results).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
