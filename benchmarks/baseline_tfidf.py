#!/usr/bin/env python
"""TF-IDF + LinearSVC on the same splits the neural models see: the bar a fine-tuned model must clear.

    python benchmarks/baseline_tfidf.py --dataset_name 20newsgroups
    python benchmarks/baseline_tfidf.py --dataset_name 20newsgroups --remove headers footers quotes
    python benchmarks/baseline_tfidf.py --dataset_name ag_news --ag_news_test_only
    python benchmarks/baseline_tfidf.py --config configs/glove_semeval_ec.json    # multi-label

The splits come from `data_scripts.load_corpus` with run_classification.py's defaults (seed 42, 10 % of
train held out for validation), or, with --config, with exactly the settings of that run config (its files,
held-out percentages and seed), so the numbers compare row for row with a fine-tuned model's. Every
vectorizer setting is fitted on train and scored on validation; the best validation macro-F1 picks the
one setting that is then scored on test, once. Test never takes part in the choice.

Multi-label corpora (a config with label_columns or label_separator): one logistic regression per label
(OneVsRestClassifier) for each vectorizer setting and C; each label's decision threshold is tuned on validation
with the run's own `threshold_strategy` and `training.metrics.tune_thresholds`, and the best validation micro-F1
(the metric that picks a multi-label run's best model) picks the setting scored on test, with the project's own
multi-label metrics (sample-averaged Jaccard, micro/macro-F1).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import sklearn
from datasets import DatasetDict
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from data_scripts import (
    add_validation_split,
    label_names_of_features,
    limit_samples,
    load_corpus,
    problem_type_of_features,
    read_ag_news_csv_dir,
)
from data_scripts.labels import multi_hot
from data_scripts.splits import labels_of, stratified_indices
from modeling.problem_types import MULTI_LABEL, REGRESSION
from textcls_errors import TextclsError

# Candidate vectorizers: name -> TfidfVectorizer keyword arguments. "plain" is scikit-learn's defaults,
# the setting behind the usual published 20 Newsgroups figures.
SETTINGS: dict[str, dict[str, object]] = {
    "plain (1-grams)": {},
    "sublinear_tf, 1-grams": {"sublinear_tf": True},
    "sublinear_tf, 1-2-grams": {"sublinear_tf": True, "ngram_range": (1, 2)},
    "sublinear_tf, 1-2-grams, min_df=2": {"sublinear_tf": True, "ngram_range": (1, 2), "min_df": 2},
}
AG_NEWS_TEST_SHARE = 0.2  # --ag_news_test_only: share of test.csv kept as the test split
# Multi-label: inverse regularisation strengths tried for each setting (LogisticRegression's default is 1).
MULTI_LABEL_C = (1.0, 4.0, 16.0)


@dataclass
class Row:
    dataset: str
    split: str
    setting: str
    accuracy: float
    macro_f1: float
    fit_seconds: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset_name", choices=["20newsgroups", "ag_news"])
    source.add_argument(
        "--config",
        help="a run_classification.py config (JSON): its corpus with its splits, read as the run reads it "
        "(data settings, held-out percentages and seed from the config; the options below are ignored)",
    )
    parser.add_argument(
        "--data_dir",
        help="folder holding the corpus (default: $TEXTCLS_DATA_DIR/<dataset>, else the loader's download)",
    )
    parser.add_argument("--categories", nargs="+", help="20newsgroups only: the groups to keep (default: all 20)")
    parser.add_argument(
        "--remove", nargs="+", choices=["headers", "footers", "quotes"], help="20newsgroups only: parts to strip"
    )
    parser.add_argument("--max_train_samples", type=int, help="stratified sample of the train split")
    parser.add_argument("--validation_split_percentage", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--ag_news_test_only",
        action="store_true",
        help="AG News when only test.csv is at hand (as in the shared data): split its 7,600 rows into a "
        f"seeded stratified {1 - AG_NEWS_TEST_SHARE:.0%}/{AG_NEWS_TEST_SHARE:.0%} train/test, then hold out "
        "validation from that train. NOT the official AG News train/test split.",
    )
    return parser.parse_args(argv)


def ag_news_test_only_corpus(args: argparse.Namespace) -> DatasetDict:
    """AG News from test.csv alone: a seeded stratified 80/20 train/test split, then validation from train."""
    if args.dataset_name != "ag_news":
        raise TextclsError("--ag_news_test_only: only with --dataset_name ag_news.")
    if args.categories or args.remove:
        raise TextclsError("--categories / --remove: used only with --dataset_name 20newsgroups; remove them.")
    if args.data_dir is None:
        root = os.environ.get("TEXTCLS_DATA_DIR")
        if not root:
            raise TextclsError("--ag_news_test_only needs --data_dir (the folder with test.csv) or $TEXTCLS_DATA_DIR.")
        data_dir = Path(root) / "ag_news"
    else:
        data_dir = Path(args.data_dir)
    files = read_ag_news_csv_dir(data_dir)
    if "test" not in files:
        raise TextclsError(f"--ag_news_test_only: {data_dir} has no test.csv.")
    rows = files["test"]
    test_index = stratified_indices(labels_of(rows), math.ceil(len(rows) * AG_NEWS_TEST_SHARE), args.seed)
    train_index = np.setdiff1d(np.arange(len(rows)), test_index, assume_unique=True)
    corpus = DatasetDict(train=rows.select(train_index), test=rows.select(test_index))
    corpus = add_validation_split(corpus, args.validation_split_percentage, args.seed)
    return limit_samples(corpus, max_train_samples=args.max_train_samples, seed=args.seed)


def config_corpus(path: str) -> tuple[DatasetDict, str, str]:
    """The corpus of a run config, split as run_classification.py splits it; its name; its threshold_strategy."""
    from training.arguments import parse_arguments  # transformers: only for --config

    _, data_args, _, _, training_args = parse_arguments([path])
    corpus = load_corpus(data_args.dataset_name, **data_args.corpus_settings(), seed=training_args.seed)
    name = data_args.dataset_name or Path(data_args.train_file).name
    return corpus, f"{name} ({Path(path).name} splits)", training_args.threshold_strategy


def load_splits(args: argparse.Namespace) -> tuple[DatasetDict, str]:
    """The corpus and the name it goes by in the table."""
    if args.ag_news_test_only:
        return ag_news_test_only_corpus(args), "ag_news (test.csv only, stratified 80/20 split)"
    try:
        corpus = load_corpus(
            args.dataset_name,
            data_dir=args.data_dir,
            categories=args.categories,
            remove=args.remove,
            validation_split_percentage=args.validation_split_percentage,
            max_train_samples=args.max_train_samples,
            seed=args.seed,
        )
    except TextclsError as error:
        if args.dataset_name != "ag_news":
            raise
        raise TextclsError(f"{error}\nWith only test.csv at hand, add --ag_news_test_only.") from error
    name = args.dataset_name
    if args.remove:
        name += f" (remove {','.join(args.remove)})"
    if args.categories:
        name += f" ({len(args.categories)} groups)"
    return corpus, name


def score(model, vectorizer: TfidfVectorizer, texts: list[str], labels: np.ndarray) -> tuple[float, float]:
    predicted = model.predict(vectorizer.transform(texts))
    return float(accuracy_score(labels, predicted)), float(f1_score(labels, predicted, average="macro"))


def command_line() -> str:
    """The command as typed, with TEXTCLS_DATA_DIR in front when it decides where the data comes from."""
    command = shlex.join(["python", *sys.argv])
    if "--data_dir" not in sys.argv and os.environ.get("TEXTCLS_DATA_DIR"):
        command = f"TEXTCLS_DATA_DIR={shlex.quote(os.environ['TEXTCLS_DATA_DIR'])} {command}"
    return command


def print_machine() -> None:
    print(f"Command: `{command_line()}`")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}. Date: {date.today().isoformat()}. Load average: "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
        + "."
    )


def multi_label_baseline(corpus: DatasetDict, name: str, threshold_strategy: str, seed: int) -> list[dict]:
    """TF-IDF + one-vs-rest logistic regression, thresholds tuned on validation; the rows of the table printed."""
    from training.metrics import multi_label_metrics, tune_thresholds  # the run's own metrics and tuning

    label_names = label_names_of_features(corpus["train"].features)
    texts = {split: list(rows.with_format("arrow")["text"].to_pylist()) for split, rows in corpus.items()}
    gold = {split: multi_hot(rows["label"], len(label_names)).astype(int) for split, rows in corpus.items()}
    print(f"{name}: " + ", ".join(f"{split} {len(rows)}" for split, rows in corpus.items()), flush=True)

    results: list[dict] = []
    for setting, options in SETTINGS.items():
        vectorizer = TfidfVectorizer(**options)
        train_features = vectorizer.fit_transform(texts["train"])
        validation_features = vectorizer.transform(texts["validation"])
        for c in MULTI_LABEL_C:
            start = time.perf_counter()
            model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000, random_state=seed))
            model.fit(train_features, gold["train"])
            seconds = time.perf_counter() - start
            scores = model.predict_proba(validation_features)
            thresholds = np.asarray(tune_thresholds(scores, gold["validation"], threshold_strategy))
            metrics = multi_label_metrics(gold["validation"], scores >= thresholds)
            results.append(
                {
                    "split": "validation",
                    "setting": f"{setting}, C={c:g}",
                    "metrics": metrics,
                    "seconds": seconds,
                    "fitted": (vectorizer, model, thresholds),
                }  # fmt: skip
            )
            print(f"  {setting}, C={c:g}: validation micro-F1 {metrics['micro_f1']:.4f} ({seconds:.1f} s)", flush=True)

    best = max(results, key=lambda row: row["metrics"]["micro_f1"])
    if "test" in corpus:
        vectorizer, model, thresholds = best["fitted"]
        scores = model.predict_proba(vectorizer.transform(texts["test"]))
        metrics = multi_label_metrics(gold["test"], scores >= thresholds)
        results.append({"split": "test", "setting": best["setting"], "metrics": metrics, "seconds": best["seconds"]})

    print()
    print("| dataset | split | setting | Jaccard | micro-F1 | macro-F1 | fit s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for row in results:
        chosen = " (chosen on validation)" if row["split"] == "test" else ""
        m = row["metrics"]
        print(
            f"| {name} | {row['split']} | {row['setting']}{chosen} | {m['jaccard']:.4f} | {m['micro_f1']:.4f} "
            f"| {m['macro_f1']:.4f} | {row['seconds']:.1f} |"
        )
    print()
    sizes = ", ".join(f"{split} {len(split_rows)}" for split, split_rows in corpus.items())
    print(
        f"Rows: {sizes}. OneVsRestClassifier(LogisticRegression(C)) fitted on train only; decision thresholds "
        f"({threshold_strategy}) tuned on validation; the best validation micro-F1 is scored on test."
    )
    print("Fit seconds: OneVsRestClassifier.fit on the vectorized train split, wall-clock.")
    print_machine()
    return results


def main(argv: list[str] | None = None) -> list[Row] | list[dict]:
    args = parse_args(argv)
    if args.config:
        corpus, name, threshold_strategy = config_corpus(args.config)
        problem_type = problem_type_of_features(corpus["train"].features)
        if problem_type == MULTI_LABEL:
            return multi_label_baseline(corpus, name, threshold_strategy, args.seed)
        if problem_type == REGRESSION:
            raise TextclsError(f"{args.config} is a regression run: this TF-IDF baseline classifies.")
    else:
        corpus, name = load_splits(args)
    texts = {split: list(rows.with_format("arrow")["text"].to_pylist()) for split, rows in corpus.items()}
    labels = {split: labels_of(rows) for split, rows in corpus.items()}
    print(f"{name}: " + ", ".join(f"{split} {len(rows)}" for split, rows in corpus.items()), flush=True)

    rows: list[Row] = []
    fitted = {}
    for setting, options in SETTINGS.items():
        start = time.perf_counter()
        vectorizer = TfidfVectorizer(**options)
        model = LinearSVC(random_state=args.seed).fit(vectorizer.fit_transform(texts["train"]), labels["train"])
        seconds = time.perf_counter() - start
        fitted[setting] = (vectorizer, model, seconds)
        accuracy, macro_f1 = score(model, vectorizer, texts["validation"], labels["validation"])
        rows.append(Row(name, "validation", setting, accuracy, macro_f1, seconds))
        print(f"  {setting}: validation macro-F1 {macro_f1:.4f} ({seconds:.1f} s)", flush=True)

    best = max((row for row in rows if row.split == "validation"), key=lambda row: row.macro_f1).setting
    if "test" in corpus:
        vectorizer, model, seconds = fitted[best]
        accuracy, macro_f1 = score(model, vectorizer, texts["test"], labels["test"])
        rows.append(Row(name, "test", best, accuracy, macro_f1, seconds))

    print()
    print("| dataset | split | setting | accuracy | macro-F1 | fit s |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for row in rows:
        chosen = " (chosen on validation)" if row.split == "test" else ""
        print(
            f"| {row.dataset} | {row.split} | {row.setting}{chosen} | {row.accuracy:.2%} | {row.macro_f1:.2%} "
            f"| {row.fit_seconds:.1f} |"
        )
    print()
    sizes = ", ".join(f"{split} {len(split_rows)}" for split, split_rows in corpus.items())
    print(f"Rows: {sizes}. Fitted on train only; the setting with the best validation macro-F1 is scored on test.")
    print("Fit seconds: TfidfVectorizer.fit_transform(train) + LinearSVC.fit (default C=1), wall-clock.")
    print_machine()
    return rows


if __name__ == "__main__":
    try:
        main()
    except TextclsError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
