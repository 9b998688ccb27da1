"""Cache files for `datasets.map` on corpora that live in memory (shared by text cleaning and tokenization)."""

from __future__ import annotations

from pathlib import Path

import datasets
from datasets import DatasetDict
from datasets.fingerprint import Hasher


def cache_file_names(corpus: DatasetDict, transform, cache_dir: str | None) -> dict[str, str | None]:
    """Where to cache the result of mapping `transform` over each split.

    datasets caches `map` results next to a dataset's own Arrow files; corpora read from archives
    (20 Newsgroups, AG News CSVs) are built in memory and have none, so without a file name here they
    would be cleaned and tokenized again on every run. The name hashes the rows and the function.
    """
    root = Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / "textcls_maps"
    names: dict[str, str | None] = {}
    for split, rows in corpus.items():
        if rows.cache_files:
            names[split] = None  # datasets picks a file beside the source's own cache
        else:
            root.mkdir(parents=True, exist_ok=True)
            names[split] = str(root / f"{split}-{Hasher.hash((rows._fingerprint, transform))}.arrow")
    return names
