"""Text cleaning (simple_preprocess) of N rows in the run's own process against `--workers` processes, alternated.

    python benchmarks/clean_workers.py --rows 12000 --workers 2 --repeats 2

Builds the corpus as `scale.py` does (AG News + 20 Newsgroups texts from $TEXTCLS_DATA_DIR) in a temporary folder,
reads it with `load_local_files`, then cleans it again and again (cache ignored), alternating 1 and N processes so
that both see the same load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import datasets  # noqa: E402

from benchmarks.scale import source_documents, write_corpus  # noqa: E402
from data_scripts.local_files import load_local_files  # noqa: E402
from data_scripts.text_cleaning import TextCleaning, build_cleaner, clean_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=12_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data_dir", default=os.environ.get("TEXTCLS_DATA_DIR"))
    options = parser.parse_args()
    if not options.data_dir:
        parser.error("give --data_dir or set $TEXTCLS_DATA_DIR")
    datasets.disable_progress_bars()
    cleaning = TextCleaning(simple_preprocess=True)
    build_cleaner(cleaning)  # gensim imported once, before any worker forks
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        texts, labels = source_documents(Path(options.data_dir))
        write_corpus(folder, options.rows, texts, labels)
        corpus = load_local_files(str(folder / "train.csv"), cache_dir=str(folder / "cache"))
        for _ in range(options.repeats):
            for workers in (1, options.workers):
                start = time.perf_counter()
                clean_corpus(corpus, cleaning, num_proc=workers, cache_dir=str(folder / "cache"), overwrite_cache=True)
                print(
                    f"{len(corpus['train'])} rows, preprocessing_num_workers {workers}: "
                    f"{time.perf_counter() - start:.1f} s, load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
