"""Peak RSS and time of a scattered take (the validation split's copy) with and without the page release.

    python benchmarks/scattered_take.py                  # 900,000 rows of 220 words (about 1.3 GB), 2 pairs
    python benchmarks/scattered_take.py --rows 100000 --pairs 1

Writes an Arrow file of random words in 10,000-row record batches to a temporary folder, then, in a fresh process
each (the release thread starts once per process), takes a tenth of its rows at random with
`splits.take_from_batches`, 10,000 positions at a time as `take_rows` does: without the release and with it,
alternating. Prints the growth of the peak RSS (VmHWM) over the RSS before the take, and the seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent

TAKE = """
import sys, time
import numpy as np, pyarrow as pa
from datasets import Dataset
from data_scripts.mapped_pages import release_in_background
from data_scripts.splits import BATCH_ROWS, take_from_batches
def status(key):
    return next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith(key))
table = Dataset.from_file(sys.argv[1]).data.table
if sys.argv[2] == "with":
    assert release_in_background()
positions = np.sort(np.random.default_rng(0).choice(len(table), len(table) // 10, replace=False))
before, started = status("VmRSS:"), time.perf_counter()
for start in range(0, len(positions), BATCH_ROWS):
    take_from_batches(table, pa.array(positions[start : start + BATCH_ROWS], type=pa.uint64()))
    pa.default_memory_pool().release_unused()
print(f"{status('VmHWM:') - before:.0f} {time.perf_counter() - started:.2f}")
"""


def write_corpus(path: Path, rows: int, words_per_row: int = 220, batch: int = 10_000) -> None:
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(30_000)])
    schema = pa.schema([("text", pa.string()), ("label", pa.int64())])
    with pa.OSFile(str(path), "wb") as file, pa.ipc.new_stream(file, schema) as writer:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            texts = [" ".join(row) for row in words[rng.integers(0, len(words), (n, words_per_row))]]
            writer.write_batch(pa.record_batch([pa.array(texts), pa.array(rng.integers(0, 24, n))], schema=schema))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=900_000)
    parser.add_argument("--pairs", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "train.arrow"
        write_corpus(path, options.rows)
        print(f"{path.stat().st_size / 2**20:,.0f} MiB, {options.rows:,} rows; peak RSS growth MiB / seconds")
        for _ in range(options.pairs):
            for mode in ("without", "with"):
                done = subprocess.run(
                    [sys.executable, "-c", TAKE, str(path), mode],
                    capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                )  # fmt: skip
                grown, seconds = done.stdout.split()
                print(f"{mode} the release: {grown} MiB, {seconds} s")


if __name__ == "__main__":
    main()
