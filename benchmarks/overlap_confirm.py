"""The overlap check's confirmation of hash matches, before and after, side by side on one corpus.

    TEXTCLS_DATA_DIR=../shared/data python benchmarks/overlap_confirm.py --rows 100000 --exact_share 0.5

Builds a corpus as `benchmarks/scale.py` does (AG News test.csv and 20 Newsgroups documents drawn with
replacement, each missing one random word; `--exact_share` of the rows copied whole instead, so that about as many
validation rows are also in train as at a million rows of scale.py's corpus, 45 %), in an Arrow file, holds out 10 %
for validation with `take_rows` as a run does, and times, alternating: the confirmation as it was (`Dataset.select`
of the matched rows, then iteration: one Arrow slice per row behind the indices mapping, and every pair of texts
normalised) against `overlap.confirm_matches` (Arrow takes from the record batches, pairs equal as stored not
normalised), and the whole `split_overlap` with each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, disable_progress_bars

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.scale import source_documents  # noqa: E402
from data_scripts import overlap  # noqa: E402
from data_scripts.splits import add_validation_split  # noqa: E402


def confirm_as_before(split_rows: Dataset, train: Dataset, rows: np.ndarray, train_rows: np.ndarray) -> None:
    """overlap.confirm_matches before Arrow takes (git history): select, iterate, normalise every pair."""

    def texts(rows: Dataset, indices: np.ndarray) -> list[str]:
        return [text for texts, _ in overlap.text_batches(rows.select(indices)) for text in texts]

    for start in range(0, len(rows), overlap.BATCH):
        ours = texts(split_rows, rows[start : start + overlap.BATCH])
        theirs = texts(train, train_rows[start : start + overlap.BATCH])
        for text, train_text in zip(ours, theirs, strict=True):
            if overlap.normalised(text) != overlap.normalised(train_text):
                raise RuntimeError("a hash collision")


def build_corpus(rows: int, exact_share: float, folder: Path, seed: int = 0) -> DatasetDict:
    texts, labels = source_documents(Path(os.environ["TEXTCLS_DATA_DIR"]))
    names = sorted(set(labels))
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(texts), size=rows)

    def drawn(index: int) -> str:
        words = texts[index].split()
        if rng.random() >= exact_share and len(words) > 1:
            del words[rng.integers(len(words))]
        return " ".join(words)

    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    data = Dataset.from_dict(
        {"text": [drawn(i) for i in picked], "label": [names.index(labels[i]) for i in picked]}, features=features
    )
    data = data.map(lambda batch: batch, batched=True, cache_file_name=str(folder / "corpus.arrow"))
    return add_validation_split(DatasetDict(train=data), 10.0, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--exact_share", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    disable_progress_bars()
    with tempfile.TemporaryDirectory() as folder:
        corpus = build_corpus(options.rows, options.exact_share, Path(folder))
        train, validation = corpus["train"], corpus["validation"]
        codes = overlap.LabelCodes()
        groups = overlap.group_rows(*overlap.hashed_rows(train, codes))
        keys, _ = overlap.hashed_rows(validation, codes)
        position = np.searchsorted(groups.keys, keys)
        found = position < len(groups.keys)
        found[found] = groups.keys[position[found]] == keys[found]
        matched, train_rows = np.flatnonzero(found), groups.first_row[position[found]]
        print(f"{len(train)} training rows, {len(validation)} validation rows, {len(matched)} also in train")
        new_confirm = overlap.confirm_matches
        for _ in range(options.repeats):
            for name, confirm in (("before", confirm_as_before), ("now", new_confirm)):
                started = time.perf_counter()
                confirm(validation, train, matched, train_rows)
                confirmed = time.perf_counter() - started
                overlap.confirm_matches = confirm
                started = time.perf_counter()
                overlap.split_overlap(corpus)
                whole = time.perf_counter() - started
                overlap.confirm_matches = new_confirm
                load = os.getloadavg()[0]
                print(f"{name}: confirmation {confirmed:.2f} s, whole overlap check {whole:.2f} s (load {load:.2f})")


if __name__ == "__main__":
    main()
