"""Text cleaning (simple_preprocess) and word tokenizing of N rows in the run's own process against `--workers`
processes, alternated.

    python benchmarks/clean_workers.py --rows 30000 --workers 2 --repeats 2

Builds the corpus as `scale.py` does (AG News + 20 Newsgroups texts from $TEXTCLS_DATA_DIR) in a temporary folder,
reads it with `load_local_files`, then cleans and tokenizes it again and again (cache ignored), alternating 1 and N
processes so that both see the same load. The tokenizer is a GloVe run's word tokenizer (`build_word_tokenizer`,
100,000 words, as `configs/glove_20ng.json`), built once from the cleaned texts.

Each line also gives the CPU seconds of this process and its workers together (what the work cost; the same for 1
and N when starting workers costs little), and before each pair the cores this session gets at that moment: N busy
processes run for a second and their CPU seconds are summed. On a shared machine that is the speed-up's ceiling.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import datasets  # noqa: E402

from benchmarks.scale import source_documents, write_corpus  # noqa: E402
from data_scripts.local_files import load_local_files  # noqa: E402
from data_scripts.text_cleaning import TextCleaning, build_cleaner, clean_corpus  # noqa: E402
from modeling.word_tokenizer import build_word_tokenizer  # noqa: E402
from training.preprocessing import tokenize_corpus  # noqa: E402

VOCABULARY = 100_000
MAX_SEQ_LENGTH = 1000


def _spin(seconds: float) -> float:
    """Busy for `seconds` of wall time; the CPU seconds it got."""
    end, start = time.perf_counter() + seconds, time.process_time()
    while time.perf_counter() < end:
        pass
    return time.process_time() - start


def cores_available(processes: int, seconds: float = 1.0) -> float:
    """How many cores `processes` busy processes get now (their CPU seconds over the wall time)."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return sum(pool.map(_spin, [seconds] * processes)) / seconds


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the map workers) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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
    build_cleaner(cleaning)  # gensim imported once, before any worker forks (as run_classification does)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        cache = str(folder / "cache")
        texts, labels = source_documents(Path(options.data_dir))
        write_corpus(folder, options.rows, texts, labels)
        corpus = load_local_files(str(folder / "train.csv"), cache_dir=cache)
        cleaned = clean_corpus(corpus, cleaning, cache_dir=cache)
        tokenizer = build_word_tokenizer(cleaned["train"]["text"], max_vocab_size=VOCABULARY)
        for _ in range(options.repeats):
            print(f"cores this session gets now: {cores_available(options.workers):.2f}", flush=True)
            for workers in (1, options.workers):
                start, cpu = time.perf_counter(), cpu_seconds()
                cleaned = clean_corpus(corpus, cleaning, num_proc=workers, cache_dir=cache, overwrite_cache=True)
                middle, cpu_middle = time.perf_counter(), cpu_seconds()
                tokenize_corpus(
                    cleaned,
                    tokenizer,
                    max_seq_length=MAX_SEQ_LENGTH,
                    num_proc=workers,
                    cache_dir=cache,
                    overwrite_cache=True,
                )
                end, cpu_end = time.perf_counter(), cpu_seconds()
                print(
                    f"{len(corpus['train'])} rows, preprocessing_num_workers {workers}: cleaning "
                    f"{middle - start:.1f} s ({cpu_middle - cpu:.1f} CPU s), tokenizing {end - middle:.1f} s "
                    f"({cpu_end - cpu_middle:.1f} CPU s), load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
