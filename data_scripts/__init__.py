"""Corpora in, DatasetDict(text, [text_pair,] label) out: AG News, 20 Newsgroups or the user's own files.

`load_corpus` is the one entry point: it checks the arguments, reads the corpus, holds out a
validation split when the corpus has none (stratified for single-label corpora, seeded random otherwise), and
takes samples on request. The `label` feature says the problem type: see `data_scripts.labels`.
"""

from __future__ import annotations

import numpy as np
from datasets import DatasetDict

from data_scripts.ag_news import load_ag_news, read_ag_news_csv_dir
from data_scripts.labels import label_names_of_features, problem_type_of_features
from data_scripts.local_files import load_local_files
from data_scripts.mapped_pages import watch
from data_scripts.splits import (
    add_held_out_split,
    add_validation_split,
    check_max_samples,
    check_percentage,
    labels_of,
    limit_samples,
    stratified_sample,
)
from data_scripts.text_cleaning import TextCleaning, clean_corpus
from data_scripts.twenty_newsgroups import load_twenty_newsgroups
from modeling.problem_types import SINGLE_LABEL
from textcls_errors import TextclsError

DATASET_NAMES = ("ag_news", "20newsgroups")
# How the user's own files are read (load_local_files); the named datasets read theirs themselves.
FILE_SETTINGS = (
    "label_columns", "label_separator", "text_pair_column", "delimiter", "column_names", "quoting", "problem_type",
)  # fmt: skip

__all__ = [
    "DATASET_NAMES",
    "FILE_SETTINGS",
    "TextCleaning",
    "add_validation_split",
    "clean_corpus",
    "limit_samples",
    "load_ag_news",
    "load_corpus",
    "load_local_files",
    "label_names_of_features",
    "load_twenty_newsgroups",
    "problem_type_of_features",
    "read_ag_news_csv_dir",
    "stratified_sample",
]


def check_arguments(dataset_name: str | None, settings: dict[str, object]) -> None:
    """Refuse settings that the chosen source would silently ignore."""
    if dataset_name is not None and dataset_name not in DATASET_NAMES:
        raise TextclsError(
            f"dataset_name={dataset_name!r}: unknown; accepted: {', '.join(DATASET_NAMES)}, or leave it "
            "unset and give train_file (plus optional validation_file / test_file)."
        )
    if dataset_name is None:
        ignored = ["data_dir", "categories", "remove"]
        reason = "used only with a named dataset (dataset_name=20newsgroups or ag_news)"
    else:
        ignored = ["train_file", "validation_file", "test_file", "text_columns", *FILE_SETTINGS]
        ignored += ["categories", "remove"] if dataset_name != "20newsgroups" else []
        reason = f"not used with dataset_name={dataset_name!r}"
    given = [name for name in ignored if settings.get(name) is not None]
    if dataset_name is not None and settings["label_column"] != "label":
        given.append("label_column")
    if dataset_name is not None and settings.get("text_pair"):
        given.append("text_pair")
    if dataset_name is not None and settings.get("problem_type") == SINGLE_LABEL:
        given.remove("problem_type")  # what the named datasets are anyway
    if given:
        raise TextclsError(
            f"{', '.join(f'{name}={settings[name]!r}' for name in given)}: {reason}. Remove them, or "
            + ("set dataset_name." if dataset_name is None else "unset dataset_name to read your own files.")
        )


def load_corpus(
    dataset_name: str | None,
    *,
    data_dir: str | None = None,
    train_file: str | None = None,
    validation_file: str | None = None,
    test_file: str | None = None,
    text_columns: list[str] | None = None,
    label_column: str = "label",
    label_columns: list[str] | None = None,
    label_separator: str | None = None,
    problem_type: str | None = None,
    text_pair_column: str | None = None,
    text_pair: bool = False,
    delimiter: str | None = None,
    column_names: list[str] | None = None,
    quoting: str | None = None,
    categories: list[str] | None = None,
    remove: list[str] | None = None,
    validation_split_percentage: float = 10.0,
    test_split_percentage: float | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    max_predict_samples: int | None = None,
    seed: int = 42,
    cache_dir: str | None = None,
) -> DatasetDict:
    """Train / validation (/ test) splits with features `text` (string), `label` (see `data_scripts.labels`), and
    `text_pair` (string) when pairs are read."""
    settings = {
        "label_columns": label_columns,
        "label_separator": label_separator,
        "problem_type": problem_type,
        "text_pair_column": text_pair_column,
        "text_pair": text_pair,
        "delimiter": delimiter,
        "column_names": column_names,
        "quoting": quoting,
        "data_dir": data_dir,
        "train_file": train_file,
        "validation_file": validation_file,
        "test_file": test_file,
        "text_columns": text_columns,
        "label_column": label_column,
        "categories": categories,
        "remove": remove,
    }
    check_arguments(dataset_name, settings)
    # Check the numbers before reading anything: a typo should fail before the corpus is read.
    check_percentage(validation_split_percentage)
    if test_split_percentage is not None:
        check_percentage(test_split_percentage, "test_split_percentage")
        if test_file is not None or dataset_name is not None:
            raise TextclsError(
                f"test_split_percentage={test_split_percentage} holds out a test split from train_file; this run "
                "already has one (test_file, or the named dataset's own). Remove one of them."
            )
    limits = {"max_train_samples": max_train_samples, "max_eval_samples": max_eval_samples}
    limits["max_predict_samples"] = max_predict_samples
    for name, value in limits.items():
        check_max_samples(name, value)

    if dataset_name == "20newsgroups":
        corpus = load_twenty_newsgroups(data_dir, categories=categories, remove=remove, cache_dir=cache_dir)
    elif dataset_name == "ag_news":
        corpus = load_ag_news(data_dir, cache_dir=cache_dir)
    else:
        corpus = load_local_files(
            train_file,
            validation_file,
            test_file,
            text_columns=text_columns,
            label_column=label_column,
            label_columns=label_columns,
            label_separator=label_separator,
            problem_type=problem_type,
            text_pair_column=text_pair_column,
            text_pair=text_pair,
            delimiter=delimiter,
            column_names=column_names,
            quoting=quoting or "minimal",
            cache_dir=cache_dir,
        )
    single_label = problem_type_of_features(corpus["train"].features) == SINGLE_LABEL
    present = np.unique(labels_of(corpus["train"])).tolist() if single_label else []
    if single_label and len(present) < 2:
        names = [corpus["train"].features["label"].int2str(label) for label in present]
        raise TextclsError(
            f"the training data has a single class {names}: a classifier needs at least two. "
            "Choose more categories or add rows with other labels."
        )
    if test_split_percentage is not None:
        corpus = add_held_out_split(corpus, "test", test_split_percentage, seed)
    corpus = add_validation_split(corpus, validation_split_percentage, seed)
    corpus = limit_samples(corpus, **limits, seed=seed)
    watch(corpus)  # its pages leave the run's RSS once read (data_scripts.mapped_pages)
    return corpus
