"""Where `datasets.map` caches its results, for every corpus (shared by text cleaning and tokenization)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import datasets
from datasets import DatasetDict
from datasets.fingerprint import Hasher

from data_scripts.mapped_pages import watch

# A map worker costs seconds to start (fork, its shard, the function's first imports): a split with fewer rows
# than this per worker is mapped by fewer workers (measured: 1,000-row splits took longer with 2 workers than 1).
MIN_ROWS_PER_WORKER = 5_000


def workers_for(rows: int, num_proc: int | None) -> int | None:
    """The processes to map `rows` rows with: at most num_proc, at least MIN_ROWS_PER_WORKER rows each; None (this
    process) when one would do, since datasets starts a pool of workers for any num_proc, 1 included."""
    workers = min(num_proc or 1, rows // MIN_ROWS_PER_WORKER)
    return workers if workers > 1 else None


def map_corpus(corpus: DatasetDict, function, *, num_proc: int | None, cache_dir: str | None, **map_kwargs):
    """`function` mapped (batched) over every split, each with `workers_for` its size, cached in `cache_file_names`."""
    names = cache_file_names(corpus, function, cache_dir)
    mapped = {}
    for split, rows in corpus.items():
        workers = workers_for(len(rows), num_proc)
        if map_kwargs.get("load_from_cache_file") is False:
            remove_cache_files(names[split])
        with frozen_heap() if workers else nullcontext():
            mapped[split] = rows.map(
                function, batched=True, num_proc=workers, cache_file_name=names[split], **map_kwargs
            )
    mapped = DatasetDict(mapped)
    watch(mapped)  # its pages leave the run's RSS once read (data_scripts.mapped_pages)
    return mapped


def remove_cache_files(cache_file_name: str | None) -> None:
    """The map cache of this name, whole or in shards, deleted before it is computed again. datasets cuts a split
    into as many shards as an earlier cache of the name has, even when told not to load it: after a one-process
    cache, `num_proc=2` mapped one shard while the second worker waited (as slow as one process)."""
    if cache_file_name is None:
        return
    path = Path(cache_file_name)
    for cached in [path, *path.parent.glob(f"{path.stem}_*_of_*{path.suffix}")]:
        cached.unlink(missing_ok=True)  # a dataset that still maps the file keeps reading it until it lets go


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects alive now left out of garbage collection while forked map workers run (`gc.freeze`, as the
    Python docs advise before fork): a worker's collections would otherwise walk the whole inherited heap (a run's
    is about half a million objects: torch, transformers, datasets), copying every page they touch. Measured at
    30,000 rows: 2 workers spent a third more CPU seconds than 1 on tokenizing without it, 5 % more with it (means
    of a few noisy pairs, benchmarks/README.md "Corpus size")."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def cache_file_names(corpus: DatasetDict, transform, cache_dir: str | None) -> dict[str, str | None]:
    """Where to cache the result of mapping `transform` over each split.

    datasets caches `map` results next to a dataset's own Arrow files; corpora read from archives
    (20 Newsgroups, AG News CSVs) are built in memory and have none, so without a file name here they
    would be cleaned and tokenized again on every run. Corpora on disk (the user's files, streamed into
    the cache by `local_files`) get their names here too, so that every map cache is in one folder.
    The name hashes the rows and the function.
    """
    root = Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / "textcls_maps"
    root.mkdir(parents=True, exist_ok=True)
    return {
        split: str(root / f"{split}-{Hasher.hash((rows._fingerprint, transform))}.arrow")
        for split, rows in corpus.items()
    }
