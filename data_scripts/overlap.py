"""Leaks between splits: validation and test texts that also occur in train, and texts labelled two ways.

Users' own files often share rows between train and test, which inflates every score; a text that carries two
labels caps the reachable accuracy. Texts are compared after whitespace normalisation (runs of spaces, tabs and
newlines become one space), exactly otherwise. One pass per split, holding an 8-byte hash per distinct text rather
than the texts, so the check stays linear and small beside the corpus.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

from datasets import Dataset, DatasetDict

logger = logging.getLogger(__name__)

# The metric prefix of each checked split, as the Trainer names its metrics.
CHECKED_SPLITS = {"validation": "eval", "test": "test"}
SEVERAL = object()  # a text seen with more than one label
BATCH = 10_000


def text_key(text: str) -> bytes:
    """The hash of a text with its whitespace normalised."""
    return hashlib.blake2b(" ".join(text.split()).encode("utf-8"), digest_size=8).digest()


def hashable(label):
    return tuple(label) if isinstance(label, list) else label  # multi-label rows hold lists


def keyed_rows(rows: Dataset) -> Iterator[tuple[bytes, object]]:
    """(text hash, label) of every row, read in batches (the text column is never held whole). A sentence pair is
    one example: both texts make its key."""
    pairs = "text_pair" in rows.column_names
    for batch in rows.select_columns(["text", "label", *(["text_pair"] if pairs else [])]).iter(batch_size=BATCH):
        texts = (
            batch["text"]
            if not pairs
            else [f"{a}\x00{b}" for a, b in zip(batch["text"], batch["text_pair"], strict=True)]
        )
        for text, label in zip(texts, batch["label"], strict=True):
            yield text_key(text), hashable(label)


def label_index(rows: Dataset) -> dict[bytes, object]:
    """Text hash -> its label, or SEVERAL when the split labels it more than one way."""
    index: dict[bytes, object] = {}
    for key, label in keyed_rows(rows):
        if index.setdefault(key, label) != label:
            index[key] = SEVERAL
    return index


def split_overlap(corpus: DatasetDict) -> dict[str, dict[str, int]]:
    """Per checked split's metric prefix: rows whose text is also in train, and rows whose text appears (in train or
    in the split itself) with another label."""
    if "train" not in corpus:
        return {}
    train = label_index(corpus["train"])
    counts = {}
    for split, prefix in CHECKED_SPLITS.items():
        if split not in corpus:
            continue
        own = label_index(corpus[split])
        in_train = conflicting = 0
        for key, label in keyed_rows(corpus[split]):
            trained = train.get(key)
            in_train += trained is not None
            conflicting += own[key] is SEVERAL or (trained is not None and (trained is SEVERAL or trained != label))
        counts[prefix] = {f"{prefix}_texts_in_train": in_train, f"{prefix}_texts_with_other_labels": conflicting}
        rows = len(corpus[split])
        report = logger.warning if in_train or conflicting else logger.info
        report(
            "%s: %d of %d texts (%.1f%%) also occur in train, %d occur with another label (whitespace normalised)",
            split,
            in_train,
            rows,
            100.0 * in_train / max(rows, 1),
            conflicting,
        )
    return counts
