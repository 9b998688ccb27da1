"""20 Newsgroups: a tiny bydate copy made here, scikit-learn's download (faked), and the shared copy."""

import functools
import tarfile
from collections import Counter
from pathlib import Path, PurePosixPath
from urllib.error import URLError

import numpy as np
import pytest
import sklearn.datasets
from sklearn.datasets._twenty_newsgroups import strip_newsgroup_header
from sklearn.utils import Bunch

from data_scripts import load_corpus, load_twenty_newsgroups
from textcls_errors import TextclsError

GROUPS = ["sci.space", "alt.atheism", "comp.graphics"]
# File names that sort differently as strings ("10" < "101" < "9") and as numbers.
FILE_NAMES = ["9", "10", "101"]


def message(group: str, name: str, split: str) -> bytes:
    body = f"From: someone@{group}\nSubject: {split} post {name}\n\nBody of {name} in {group}: café.\n"
    return body.encode("latin-1")


@pytest.fixture
def bydate(tmp_path) -> Path:
    """Extracted folders in tmp_path/folders; the same files in tmp_path/archive/20news-bydate.tar.gz."""
    folders = tmp_path / "folders"
    for split in ("train", "test"):
        for group in GROUPS:
            (folders / f"20news-bydate-{split}" / group).mkdir(parents=True)
            for name in FILE_NAMES[: 3 if split == "train" else 2]:
                (folders / f"20news-bydate-{split}" / group / name).write_bytes(message(group, name, split))
    (tmp_path / "archive").mkdir()
    with tarfile.open(tmp_path / "archive" / "20news-bydate.tar.gz", "w:gz") as archive:
        for split in ("test", "train"):  # the archive's own order is not the order wanted
            archive.add(folders / f"20news-bydate-{split}", arcname=f"./20news-bydate-{split}")
    return tmp_path


def test_archive_and_folders_give_the_same_sorted_rows(bydate):
    from_archive = load_twenty_newsgroups(str(bydate / "archive"))
    from_folders = load_twenty_newsgroups(str(bydate / "folders"))
    for split in ("train", "test"):
        assert from_archive[split].to_dict() == from_folders[split].to_dict()
    names = from_archive["train"].features["label"].names
    assert names == sorted(GROUPS)
    first_lines = [text.split("\n")[1] for text in from_archive["train"]["text"][:3]]
    assert first_lines == ["Subject: train post 10", "Subject: train post 101", "Subject: train post 9"]
    assert from_archive["train"]["label"] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert "café" in from_archive["test"][0]["text"]  # latin-1, as scikit-learn decodes


def test_categories_keep_only_those_groups_in_sorted_order(bydate):
    corpus = load_twenty_newsgroups(str(bydate / "archive"), categories=["sci.space", "alt.atheism"])
    assert corpus["train"].features["label"].names == ["alt.atheism", "sci.space"]
    assert Counter(corpus["train"]["label"]) == {0: 3, 1: 3}
    assert all("comp.graphics" not in text for text in corpus["test"]["text"])


def test_unknown_category_lists_the_valid_names(bydate):
    with pytest.raises(TextclsError, match=r"unknown group\(s\) \['sci.spaec'\]. Valid names: \['alt.atheism'"):
        load_twenty_newsgroups(str(bydate / "folders"), categories=["sci.space", "sci.spaec"])


def test_remove_headers_matches_scikit_learn(bydate):
    raw = load_twenty_newsgroups(str(bydate / "folders"))
    stripped = load_twenty_newsgroups(str(bydate / "folders"), remove=["headers"])
    assert stripped["train"]["text"] == [strip_newsgroup_header(text) for text in raw["train"]["text"]]
    assert not any("From:" in text or "Subject:" in text for text in stripped["train"]["text"])


@pytest.mark.parametrize("remove", [["header"], ["headers", "signatures"], "quotes,subject"])
def test_unknown_remove_values(remove):
    with pytest.raises(TextclsError, match=r"remove=.*unknown part\(s\).*accepted: any of \['headers', 'footers'"):
        load_corpus("20newsgroups", data_dir="/nonexistent", remove=remove)


def test_folder_without_a_copy_says_what_it_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(TextclsError, match=r"holds no 20 Newsgroups copy: expected 20news-bydate\.tar\.gz .*notes"):
        load_twenty_newsgroups(str(tmp_path))


def test_corrupt_archive(tmp_path):
    (tmp_path / "20news-bydate.tar.gz").write_bytes(b"not a gzip file at all")
    with pytest.raises(TextclsError, match=r"could not read the 20 Newsgroups archive .*20news-bydate\.tar\.gz"):
        load_twenty_newsgroups(str(tmp_path))


def test_download_is_sorted_back_to_load_files_order(monkeypatch):
    def fake_fetch(data_home, subset, shuffle):
        assert not shuffle
        # load_files shuffles its cache: hand the documents back out of order.
        return Bunch(
            data=["b2", "a1", "b1"],
            target=np.array([1, 0, 1]),
            target_names=["alt.atheism", "sci.space"],
            filenames=np.array(["/x/sci.space/2", "/x/alt.atheism/1", "/x/sci.space/1"]),
        )

    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups", fake_fetch)
    monkeypatch.delenv("TEXTCLS_DATA_DIR", raising=False)
    corpus = load_twenty_newsgroups()
    assert corpus["train"]["text"] == ["a1", "b1", "b2"] and corpus["train"]["label"] == [0, 1, 1]


def test_failed_download_is_a_clear_error(monkeypatch, tmp_path):
    def offline(**kwargs):
        raise URLError("no network")

    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups", offline)
    monkeypatch.setenv("TEXTCLS_DATA_DIR", str(tmp_path))
    with pytest.raises(TextclsError) as error:
        load_twenty_newsgroups()
    text = str(error.value)
    assert f"$TEXTCLS_DATA_DIR/20newsgroups = {tmp_path / '20newsgroups'}" in text
    assert "fetch_20newsgroups: URLError" in text and "data_dir" in text


# --- the shared copy (../shared/data/20newsgroups/20news-bydate.tar.gz) --------------------------------

README_COUNTS = {"alt.atheism": (480, 319), "sci.space": (593, 394), "talk.religion.misc": (377, 251)}


@functools.cache
def shared_20ng(path: str, categories: tuple[str, ...] | None = None, remove: tuple[str, ...] | None = None):
    """Each distinct load of the shared archive once per test session (about a second each)."""
    return load_twenty_newsgroups(
        path, categories=list(categories) if categories else None, remove=list(remove) if remove else None
    )


@pytest.fixture
def newsgroups_dir(data_dir) -> str:
    return str(data_dir / "20newsgroups")


def sklearn_order(n: int) -> np.ndarray:
    """The permutation fetch_20newsgroups applies: load_files' shuffle (seed 0), then its own (seed 42)."""
    first, second = np.arange(n), np.arange(n)
    np.random.RandomState(0).shuffle(first)
    np.random.RandomState(42).shuffle(second)
    return first[second]


@pytest.mark.integration
def test_shared_sizes_names_and_counts(newsgroups_dir):
    corpus = shared_20ng(newsgroups_dir)
    assert (len(corpus["train"]), len(corpus["test"])) == (11314, 7532)
    names = corpus["train"].features["label"].names
    assert len(names) == 20 and names == sorted(names) and names[0] == "alt.atheism"
    for split, column in (("train", 0), ("test", 1)):
        counts = Counter(corpus[split]["label"])
        for group, expected in README_COUNTS.items():
            assert counts[names.index(group)] == expected[column], (split, group)


@pytest.mark.integration
def test_shared_order_reproduces_scikit_learn_reference_values(newsgroups_dir):
    train = shared_20ng(newsgroups_dir)["train"]
    order = sklearn_order(len(train))
    assert np.asarray(train["label"])[order][:10].tolist() == [7, 4, 4, 1, 14, 16, 13, 3, 2, 4]
    assert train[int(order[0])]["text"].startswith("From: lerxst@wam.umd.edu (where's my thing)\nSubject: WHAT car")


@pytest.mark.integration
def test_shared_categories_subset(newsgroups_dir):
    corpus = shared_20ng(newsgroups_dir, ("sci.space", "alt.atheism"))
    assert corpus["train"].features["label"].names == ["alt.atheism", "sci.space"]
    assert Counter(corpus["train"]["label"]) == {0: 480, 1: 593}
    assert Counter(corpus["test"]["label"]) == {0: 319, 1: 394}
    # fetch_20newsgroups filters after load_files' shuffle, then shuffles: the reference 1,073 rows.
    full = np.asarray(shared_20ng(newsgroups_dir)["train"]["label"])
    first = np.arange(len(full))
    np.random.RandomState(0).shuffle(first)
    kept = first[np.isin(full[first], [0, 14])]  # alt.atheism and sci.space in the 20-group ids
    np.random.RandomState(42).shuffle(kept)
    assert [0 if full[i] == 0 else 1 for i in kept[:10]] == [0, 1, 1, 1, 0, 1, 1, 0, 0, 0]


@pytest.mark.integration
def test_shared_header_stripping_matches_scikit_learn(newsgroups_dir):
    raw = shared_20ng(newsgroups_dir)["test"]["text"]
    stripped = shared_20ng(newsgroups_dir, remove=("headers",))["test"]["text"]
    assert stripped == [strip_newsgroup_header(text) for text in raw]
    # 7,406 of 7,532 messages open with a From:/Subject: header line; 7 still do once stripped (forwards).
    assert sum(text.startswith(("From:", "Subject:")) for text in raw) == 7406
    assert sum(text.startswith(("From:", "Subject:")) for text in stripped) == 7


def named_rows(split) -> list[tuple[str, str]]:
    names = split.features["label"].names
    return [(names[label], text) for text, label in zip(split["text"], split["label"], strict=True)]


@pytest.mark.integration
def test_shared_archive_equals_its_extracted_folders(newsgroups_dir, tmp_path):
    # Three groups, not all twenty: writing 18,846 files takes 4-9 s here. These hold non-ASCII
    # bytes (comp.sys.mac.hardware: 15 files) and CR bytes (it and talk.politics.misc).
    groups = {"comp.sys.mac.hardware", "talk.politics.misc", "talk.religion.misc"}
    with tarfile.open(Path(newsgroups_dir) / "20news-bydate.tar.gz") as archive:
        members = [member for member in archive.getmembers() if PurePosixPath(member.name).parent.name in groups]
        archive.extractall(tmp_path, members=members, filter="data")
    from_folders = load_twenty_newsgroups(str(tmp_path))
    from_archive = shared_20ng(newsgroups_dir)
    for split in ("train", "test"):
        expected = [row for row in named_rows(from_archive[split]) if row[0] in groups]
        assert named_rows(from_folders[split]) == expected
    assert len(from_folders["train"]) == 578 + 465 + 377


@pytest.mark.integration
def test_shared_load_corpus_holds_out_validation_from_train(data_dir, monkeypatch):
    monkeypatch.setenv("TEXTCLS_DATA_DIR", str(data_dir))  # the default local copy, no data_dir
    corpus = load_corpus("20newsgroups", categories=["alt.atheism", "sci.space"], max_eval_samples=50)
    assert len(corpus["train"]) == 1073 - 108 and len(corpus["test"]) == 713
    assert Counter(corpus["validation"]["label"]) == {0: 22, 1: 28}
