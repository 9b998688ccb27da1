#!/usr/bin/env python
"""How fast `modeling.embeddings.load_word_vectors` reads a GloVe-sized text file, first parse and from its cache.

    python benchmarks/word_vectors_speed.py                      # 400k words x 100 dims, like glove.6B.100d.txt
    python benchmarks/word_vectors_speed.py --compare            # also pandas' C parser
    python benchmarks/word_vectors_speed.py --compare --gensim   # also gensim (about a minute on 2 cores)

The file is generated (random vectors rounded to 5 decimals, as in GloVe, plus words that careless parsers turn
into missing values), so nothing is downloaded. Times are wall-clock, the best of `--repeats` runs, with the file in
the page cache; "first load" deletes the cache before each run, so it includes writing the cache.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from modeling.embeddings import load_word_vectors

TRICKY_WORDS = ["null", "nan", "NaN", "NA", "#", '"', "true", "-", "n/a", "\\N"]


def write_vectors(path: Path, words: int, dim: int, seed: int = 0) -> None:
    """A GloVe-format text file: "word v1 ... vD" per line, values like GloVe's (5 decimals, spread about 0.4)."""
    rng = np.random.default_rng(seed)
    names = TRICKY_WORDS + [f"w{row}" for row in range(words - len(TRICKY_WORDS))]
    schema = pa.schema([("word", pa.string())] + [(f"v{i}", pa.float32()) for i in range(dim)])
    with open(path, "wb") as handle:
        # pyarrow's unquoted writer refuses '"', so the tricky words' lines are written by hand
        for name in TRICKY_WORDS:
            handle.write((name + " " + " ".join(["0.5"] * dim) + "\n").encode())
        options = pa_csv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
        with pa_csv.CSVWriter(handle, schema, write_options=options) as writer:
            for start in range(len(TRICKY_WORDS), words, 50_000):
                block = np.round(rng.normal(0.0, 0.4, size=(min(50_000, words - start), dim)), 5).astype(np.float32)
                columns = [pa.array(names[start : start + len(block)])] + [pa.array(block[:, i]) for i in range(dim)]
                writer.write_table(pa.table(columns, schema=schema))


def best_time(function: Callable[[], object], repeats: int, before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def pandas_parse(path: Path, dim: int) -> np.ndarray:
    import pandas as pd

    frame = pd.read_csv(
        path,
        sep=" ",
        header=None,
        engine="c",
        quoting=csv.QUOTE_NONE,
        na_filter=False,
        keep_default_na=False,
        dtype={0: str, **{column: np.float32 for column in range(1, dim + 1)}},
    )
    return frame.iloc[:, 1:].to_numpy(np.float32)


def gensim_parse(path: Path) -> np.ndarray:
    from gensim.models import KeyedVectors

    return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True).vectors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also time pandas.read_csv (C engine)")
    parser.add_argument("--gensim", action="store_true", help="also time gensim's load_word2vec_format (slow)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="word-vectors-") as folder:
        path = Path(folder) / f"vectors.{args.dim}d.txt"
        start = time.perf_counter()
        write_vectors(path, args.words, args.dim)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {path.name}: {args.words} words x {args.dim} dims, {size_mb:.0f} MB in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
        cache_files = [path.with_name(path.name + suffix) for suffix in (".textcls-cache.npy", ".textcls-cache.words")]

        def drop_cache() -> None:
            for cache_file in cache_files:
                cache_file.unlink(missing_ok=True)

        vectors = load_word_vectors(path)  # warm-up: imports, page cache
        assert vectors.vectors.shape == (args.words, args.dim) and vectors.words[: len(TRICKY_WORDS)] == TRICKY_WORDS
        rows = [
            (
                "load_word_vectors, first load (parse + write cache)",
                best_time(lambda: load_word_vectors(path), args.repeats, drop_cache),
            ),
            ("load_word_vectors, from the cache", best_time(lambda: load_word_vectors(path), args.repeats)),
        ]
        if args.compare:
            np.testing.assert_array_equal(pandas_parse(path, args.dim), vectors.vectors)
            rows.append(("pandas.read_csv, engine='c'", best_time(lambda: pandas_parse(path, args.dim), args.repeats)))
        if args.gensim:
            rows.append(("gensim KeyedVectors.load_word2vec_format", best_time(lambda: gensim_parse(path), 1)))

    print()
    print(f"| reader ({args.words} x {args.dim}, {size_mb:.0f} MB text) | seconds |")
    print("| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print()
    print(f"Command: `{shlex.join(['python', *sys.argv])}`")
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, pyarrow {pa.__version__}. Date: {date.today().isoformat()}."
    )


if __name__ == "__main__":
    main()
