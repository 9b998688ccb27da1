"""20 Newsgroups ("bydate" version) as a DatasetDict, from a local copy or scikit-learn's download.

Documents come out in scikit-learn's unshuffled `load_files` order (groups sorted, then file names
sorted as strings), decoded as latin-1 like scikit-learn. `fetch_20newsgroups(shuffle=False)` is
*not* that order: its cache was built by `load_files` with its default shuffle (random_state=0), so
its downloads are sorted back here, and both sources give the same rows in the same order. Applying
those two shuffles (seed 0, then fetch's seed 42) reproduces scikit-learn's published `target[:10]`.
"""

from __future__ import annotations

import logging
import os
import tarfile
from pathlib import Path, PurePosixPath

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

ARCHIVE = "20news-bydate.tar.gz"
SPLIT_FOLDERS = {"20news-bydate-train": "train", "20news-bydate-test": "test"}
# Applied in this order whatever order the user gives, as fetch_20newsgroups does; each is scikit-learn's
# strip_newsgroup_<part>, imported when a corpus is read (scikit-learn is a second of start-up).
STRIPPERS = {
    "headers": "strip_newsgroup_header",
    "footers": "strip_newsgroup_footer",
    "quotes": "strip_newsgroup_quoting",
}

# One document: (group, file name, text); a raw corpus maps "train"/"test" to its documents.
Document = tuple[str, str, str]
RawCorpus = dict[str, list[Document]]


def check_remove(remove: list[str] | str | None) -> list[str]:
    """The parts to strip, validated; a single comma-separated string is accepted too."""
    if remove is None:
        return []
    items = remove.split(",") if isinstance(remove, str) else list(remove)
    items = [item.strip() for item in items if item.strip()]
    unknown = [item for item in items if item not in STRIPPERS]
    if unknown:
        raise TextclsError(
            f"remove={remove!r}: unknown part(s) {unknown}; accepted: any of {list(STRIPPERS)} "
            '(e.g. remove=["headers", "footers", "quotes"], as in scikit-learn\'s fetch_20newsgroups).'
        )
    return [part for part in STRIPPERS if part in items]


def _sorted_like_load_files(documents: list[Document]) -> list[Document]:
    """Order by group, then file name as a string: scikit-learn's `load_files` order."""
    return sorted(documents, key=lambda document: (document[0], document[1]))


def read_tarball(path: Path) -> RawCorpus:
    """Stream every document out of 20news-bydate.tar.gz without extracting it to disk."""
    corpus: RawCorpus = {"train": [], "test": []}
    try:
        with tarfile.open(path, "r|gz") as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                # Accept a leading "./" or wrapping folder: look for the split folder anywhere.
                if not member.isfile() or len(parts) < 3 or parts[-3] not in SPLIT_FOLDERS:
                    continue
                content = archive.extractfile(member).read()
                corpus[SPLIT_FOLDERS[parts[-3]]].append((parts[-2], parts[-1], content.decode("latin-1")))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise TextclsError(
            f"could not read the 20 Newsgroups archive {path}: {type(error).__name__}: {error}. "
            "Replace it with a complete copy of 20news-bydate.tar.gz, or extract it there so that "
            "20news-bydate-train/ and 20news-bydate-test/ sit in the same folder."
        ) from error
    return {split: _sorted_like_load_files(documents) for split, documents in corpus.items() if documents}


def read_folders(root: Path) -> RawCorpus:
    """Read the extracted 20news-bydate-train/ and 20news-bydate-test/ folders under `root`."""
    corpus: RawCorpus = {}
    for folder, split in SPLIT_FOLDERS.items():
        if not (root / folder).is_dir():
            continue
        documents = []
        for group in sorted(entry for entry in os.listdir(root / folder) if (root / folder / entry).is_dir()):
            for name in sorted(os.listdir(root / folder / group)):
                file = root / folder / group / name
                if file.is_file():
                    documents.append((group, name, file.read_bytes().decode("latin-1")))
        corpus[split] = documents
    return corpus


def has_local_copy(root: Path) -> bool:
    """Whether `root` holds the archive or the extracted training folder."""
    return (root / ARCHIVE).is_file() or (root / "20news-bydate-train").is_dir()


def read_local_copy(root: Path) -> RawCorpus:
    """The extracted folders when present (nothing to decompress), else the archive."""
    if not root.is_dir():
        raise TextclsError(f"data_dir={str(root)!r} for 20newsgroups is not a directory: check the path.")
    if (root / "20news-bydate-train").is_dir():
        corpus = read_folders(root)
    elif (root / ARCHIVE).is_file():
        corpus = read_tarball(root / ARCHIVE)
    else:
        raise TextclsError(
            f"data_dir={str(root)!r} holds no 20 Newsgroups copy: expected {ARCHIVE} or the extracted "
            f"folders 20news-bydate-train/ and 20news-bydate-test/ (found: {sorted(os.listdir(root))}). "
            "Put the bydate archive there, or leave data_dir unset to download it with scikit-learn."
        )
    if not corpus.get("train"):
        raise TextclsError(
            f"the 20 Newsgroups copy in {root} has no training documents "
            "(20news-bydate-train/<group>/<file>): use a complete 20news-bydate archive."
        )
    return corpus


def stripper(part: str):
    """scikit-learn's function that removes this part (headers, footers, quotes) of a post."""
    from sklearn.datasets import _twenty_newsgroups

    return getattr(_twenty_newsgroups, STRIPPERS[part])


def fetch_with_sklearn(cache_dir: str | None, tried: str) -> RawCorpus:
    """Download through scikit-learn (its own cache first), in the same order as a local copy."""
    from sklearn.datasets import fetch_20newsgroups

    corpus: RawCorpus = {}
    for split in ("train", "test"):
        try:
            bunch = fetch_20newsgroups(data_home=cache_dir, subset=split, shuffle=False)
        except OSError as error:  # URLError, HTTPError, checksum mismatch, unwritable cache
            raise TextclsError(
                f"20newsgroups: no local copy and the download failed. Tried: {tried}; then scikit-learn's "
                f"fetch_20newsgroups: {type(error).__name__}: {error}. Fix: put {ARCHIVE} (or its "
                "extracted folders) in a folder and pass it as data_dir, or set TEXTCLS_DATA_DIR to a "
                "folder holding 20newsgroups/, or run once with network access."
            ) from error
        names = [bunch.target_names[target] for target in bunch.target]
        documents = zip(names, bunch.filenames, bunch.data, strict=True)
        # Undo load_files' shuffle so that a download gives the local copy's order.
        corpus[split] = _sorted_like_load_files([(group, Path(file).name, text) for group, file, text in documents])
    return corpus


def check_categories(categories: list[str] | None, groups: list[str]) -> list[str]:
    """The chosen groups in sorted (scikit-learn) order; all of them when none are chosen."""
    if categories is None:
        return groups
    if isinstance(categories, str):
        categories = [item.strip() for item in categories.split(",") if item.strip()]
    unknown = sorted(set(categories) - set(groups))
    if unknown or not categories:
        raise TextclsError(
            f"categories={categories!r}: {'unknown group(s) ' + str(unknown) if unknown else 'empty list'}. "
            f"Valid names: {groups}."
        )
    return sorted(set(categories))


def to_dataset_dict(corpus: RawCorpus, names: list[str], remove: list[str]) -> DatasetDict:
    """Keep the chosen groups, strip the chosen parts, and label each document by its group."""
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    index = {name: i for i, name in enumerate(names)}
    splits = {}
    strippers = [stripper(part) for part in remove]
    for split, documents in corpus.items():
        texts, labels = [], []
        for group, _name, text in documents:
            if group not in index:
                continue
            for strip in strippers:
                text = strip(text)
            texts.append(text)
            labels.append(index[group])
        splits[split] = Dataset.from_dict({"text": texts, "label": labels}, features=features)
    return DatasetDict(splits)


def load_twenty_newsgroups(
    data_dir: str | None = None,
    *,
    categories: list[str] | None = None,
    remove: list[str] | None = None,
    cache_dir: str | None = None,
) -> DatasetDict:
    """20 Newsgroups train/test from data_dir, else $TEXTCLS_DATA_DIR/20newsgroups, else the network."""
    parts = check_remove(remove)
    if data_dir is not None:
        # An explicit folder must hold the corpus: never swap in a download behind the user's back.
        corpus = read_local_copy(Path(data_dir))
    else:
        env_root = os.environ.get("TEXTCLS_DATA_DIR")
        default = Path(env_root) / "20newsgroups" if env_root else None
        if default is not None and has_local_copy(default):
            logger.info("20newsgroups: reading the local copy in %s", default)
            corpus = read_local_copy(default)
        else:
            tried = (
                f"$TEXTCLS_DATA_DIR/20newsgroups = {default} (no {ARCHIVE} there)"
                if default
                else "data_dir and $TEXTCLS_DATA_DIR are both unset"
            )
            corpus = fetch_with_sklearn(cache_dir, tried)
    groups = sorted({group for group, _name, _text in corpus["train"]})
    return to_dataset_dict(corpus, check_categories(categories, groups), parts)
