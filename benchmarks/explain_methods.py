#!/usr/bin/env python
"""Integrated gradients or LIME for explain.py: seconds per text and a deletion faithfulness check.

    python benchmarks/explain_methods.py --model_dir outputs/demo --texts 20 --max_length 128

For each of the first `--texts` rows of the run's predictions.csv, each method explains the predicted class;
then the k words with the largest positive attribution are deleted from the ids the model read and the drop of
that class's probability is measured, against deleting k words picked at random (mean of 5 draws). A faithful
method drops the probability more than random deletion does.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project's packages, run as a script

from inference import TextClassifier  # noqa: E402
from inference.attributions import METHODS, attribute, class_probabilities, encode  # noqa: E402

RANDOM_DRAWS = 5


def probability_without(classifier, encoded, words: list[int], target: int) -> float:
    """The target class's probability after deleting the ids of `words` from the text as read."""
    drop = {position for word in words for position in encoded.words[word]}
    keep = [i for i in range(encoded.input_ids.shape[1]) if i not in drop]
    extras = {name: value[:, keep] for name, value in encoded.extras.items()}
    with torch.no_grad():
        return float(class_probabilities(classifier, encoded.input_ids[:, keep], extras)[0, target])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--texts", type=int, default=20)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--ks", default="1,3,5")
    args = parser.parse_args()
    torch.set_num_threads(2)
    classifier = TextClassifier(args.model_dir, device="cpu", max_length=args.max_length)
    texts = pd.read_csv(Path(args.model_dir) / "predictions.csv")["text"].head(args.texts).tolist()
    ks = [int(k) for k in args.ks.split(",")]
    rng = np.random.default_rng(0)
    results = {method: {"seconds": [], **{k: ([], []) for k in ks}} for method in METHODS}
    for text in tqdm(texts, desc="Explaining", unit="text", file=sys.stderr):
        encoded = encode(classifier, text)
        for method in METHODS:
            started = time.perf_counter()
            explained = attribute(classifier, text, method=method)
            results[method]["seconds"].append(time.perf_counter() - started)
            target = classifier.label_names.index(explained.label)
            order = [int(i) for i in np.argsort(-np.asarray(explained.scores))]
            for k in ks:
                if len(order) <= k:
                    continue
                top_drop = explained.probability - probability_without(classifier, encoded, order[:k], target)
                draws = [rng.choice(len(order), size=k, replace=False).tolist() for _ in range(RANDOM_DRAWS)]
                random_drop = explained.probability - np.mean(
                    [probability_without(classifier, encoded, draw, target) for draw in draws]
                )
                results[method][k][0].append(top_drop)
                results[method][k][1].append(random_drop)

    print(f"\n{' '.join(['python', *map(shlex.quote, sys.argv)])}")
    print(f"{date.today()}, {platform.processor() or platform.machine()}, torch {torch.__version__}, CPU")
    header = " | ".join(f"drop top-{k} / random-{k}" for k in ks)
    print(f"| method | s per text (median) | {header} |")
    print("| --- | ---: |" + " ---: |" * len(ks))
    for method in METHODS:
        cells = [
            f"{np.mean(results[method][k][0]):.3f} / {np.mean(results[method][k][1]):.3f}"
            for k in ks
            if results[method][k][0]
        ]
        print(f"| {method} | {np.median(results[method]['seconds']):.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
