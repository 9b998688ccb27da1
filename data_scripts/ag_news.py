"""AG News as a DatasetDict, from a local copy of the original `ag_news_csv` release or from the Hub.

The release has no header; each row is class index (1..4), title, description. The text is built
exactly as the Hub's `ag_news` builder built it from the same files, `title + " " + description`,
so a model sees the same rows whichever source it was trained from. Note that the release marks line
breaks with a lone backslash ("a second\\team"), not with "\\n" as its readme says; the text is kept
as it is (cleaning belongs to a later, optional step), and in particular a "\\n" is never turned into
a newline, which would break words such as "\\northern".
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets.exceptions import DatasetsError

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

HUB_ID = "fancyzhx/ag_news"
CLASS_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
SPLIT_FILES = {"train": "train.csv", "test": "test.csv"}
LAYOUT = "train.csv, test.csv and classes.txt (the original ag_news_csv release)"
HOW_TO_SUPPLY = (
    "put the full ag_news_csv release (train.csv, test.csv, classes.txt) in a folder and pass it as "
    f"data_dir (or make it $TEXTCLS_DATA_DIR/ag_news); or run with network access and no local copy to "
    f"use the Hub copy {HUB_ID}; or leave dataset_name unset and pass your own train_file / "
    "validation_file / test_file (CSV, JSON, parquet)"
)


def read_classes(path: Path) -> list[str]:
    """Class names from classes.txt: line i names class index i."""
    if not path.is_file():
        raise TextclsError(
            f"{path} is missing: an AG News folder needs classes.txt with one class name per line "
            f"(for the original release: {', '.join(CLASS_NAMES)}). Expected layout: {LAYOUT}."
        )
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise TextclsError(f"{path}: expected two or more distinct class names, one per line; got {names}.")
    return names


def read_ag_news_csv(path: Path, names: list[str]) -> Dataset:
    """One split file: rows of "class index","title","description" with no header."""
    texts, labels = [], []
    try:
        with path.open(encoding="utf-8", newline="") as file:
            # The Hub builder's reader settings: inner quotes are doubled, every field is quoted.
            reader = csv.reader(file, quotechar='"', delimiter=",", quoting=csv.QUOTE_ALL, skipinitialspace=True)
            for row in reader:
                if not row:
                    continue
                if len(row) != 3 or row[0].strip() not in {str(i) for i in range(1, len(names) + 1)}:
                    raise TextclsError(
                        f"{path}, line {reader.line_num}: expected 3 fields "
                        f'"class index (1..{len(names)})","title","description"; got {row[:3]!r}'
                        f"{' and more' if len(row) > 3 else ''}. Is this an ag_news_csv release file?"
                    )
                texts.append(f"{row[1]} {row[2]}")
                labels.append(int(row[0]) - 1)
    except UnicodeDecodeError as error:
        raise TextclsError(
            f"{path} is not UTF-8 ({error}). Re-encode it, e.g. `iconv -f latin1 -t utf-8 {path.name} > "
            f"{path.stem}.utf8.csv`."
        ) from error
    except csv.Error as error:
        raise TextclsError(f"{path} is not valid CSV: {error}.") from error
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return Dataset.from_dict({"text": texts, "label": labels}, features=features)


def read_ag_news_csv_dir(path: str | Path) -> DatasetDict:
    """Whichever of train.csv / test.csv the folder holds (plus classes.txt), as a DatasetDict."""
    root = Path(path)
    if not root.is_dir():
        raise TextclsError(f"AG News folder {str(root)!r} does not exist or is not a directory: check the path.")
    present = {split: root / name for split, name in SPLIT_FILES.items() if (root / name).is_file()}
    if not present:
        raise TextclsError(
            f"{root} holds neither train.csv nor test.csv (found: {sorted(os.listdir(root))}). "
            f"Expected layout: {LAYOUT}."
        )
    names = read_classes(root / "classes.txt")
    return DatasetDict({split: read_ag_news_csv(file, names) for split, file in present.items()})


def load_from_hub(cache_dir: str | None, tried: str) -> DatasetDict:
    """The Hub copy, which has train and test with the same class names in the same order."""
    try:
        hub = datasets.load_dataset(HUB_ID, cache_dir=cache_dir)
    except (OSError, DatasetsError) as error:  # offline, Hub unreachable, repository gone
        raise TextclsError(
            f"ag_news: no usable copy. Tried: {tried}; then the Hub ({HUB_ID}): "
            f"{type(error).__name__}: {error}. Fix: {HOW_TO_SUPPLY}."
        ) from error
    features = Features({"text": Value("string"), "label": ClassLabel(names=CLASS_NAMES)})
    return DatasetDict({split: hub[split].select_columns(["text", "label"]).cast(features) for split in SPLIT_FILES})


def load_ag_news(data_dir: str | None = None, *, cache_dir: str | None = None) -> DatasetDict:
    """AG News train/test from data_dir, else $TEXTCLS_DATA_DIR/ag_news, else the Hub."""
    if data_dir is not None:
        # An explicit folder must be complete: never swap in a download behind the user's back.
        root = Path(data_dir)
        if root.is_dir() and not (root / "train.csv").is_file():
            raise TextclsError(
                f"ag_news: train.csv is missing in data_dir = {root} (found: {sorted(os.listdir(root))}); "
                f"training needs it. Expected layout: {LAYOUT}. Fix: {HOW_TO_SUPPLY}."
            )
        return read_ag_news_csv_dir(root)
    env_root = os.environ.get("TEXTCLS_DATA_DIR")
    default = Path(env_root) / "ag_news" if env_root else None
    if default is not None and (default / "train.csv").is_file():
        logger.info("ag_news: reading the local copy in %s", default)
        return read_ag_news_csv_dir(default)
    if default is not None and default.is_dir():
        tried = f"$TEXTCLS_DATA_DIR/ag_news = {default}, which has no train.csv"
        logger.warning("ag_news: %s; trying the Hub copy %s", tried, HUB_ID)
    else:
        tried = "data_dir is unset" + (f" and {default} does not exist" if default else " and so is TEXTCLS_DATA_DIR")
    return load_from_hub(cache_dir, tried)
