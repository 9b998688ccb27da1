"""AG News: the original ag_news_csv layout (generated here), the Hub fallback, and the shared copy."""

from collections import Counter
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

import data_scripts.ag_news as ag_news
from data_scripts import load_corpus, read_ag_news_csv_dir
from textcls_errors import TextclsError

CLASSES = "World\nSports\nBusiness\nSci/Tech\n"
# Release format: all fields quoted, inner quotes doubled, line breaks written as a backslash.
TRAIN_CSV = "".join(
    f'"{1 + i % 4}","Headline {i} says ""hi""","Body {i} line one\\nline two, and\\network"\n' for i in range(40)
)
TEST_CSV = '"3","Oil Eases","LONDON (Reuters) - Prices eased for a\\second session."\n"1","Talks","Still on."\n'


def make_layout(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_text(content)
    return root


@pytest.fixture
def full_copy(tmp_path) -> Path:
    return make_layout(tmp_path / "ag_news", {"train.csv": TRAIN_CSV, "test.csv": TEST_CSV, "classes.txt": CLASSES})


def test_full_layout_reads_like_the_hub_builder(full_copy):
    corpus = read_ag_news_csv_dir(full_copy)
    assert {split: len(rows) for split, rows in corpus.items()} == {"train": 40, "test": 2}
    features = Features(
        {"text": Value("string"), "label": ClassLabel(names=["World", "Sports", "Business", "Sci/Tech"])}
    )
    assert corpus["train"].features == features
    # title + " " + description; doubled quotes undone; backslash markers kept exactly as the Hub keeps them.
    assert corpus["train"][1] == {
        "text": 'Headline 1 says "hi" Body 1 line one\\nline two, and\\network',
        "label": 1,
    }
    assert corpus["test"][0] == {
        "text": "Oil Eases LONDON (Reuters) - Prices eased for a\\second session.",
        "label": 2,
    }


def test_load_corpus_on_the_full_layout(full_copy):
    corpus = load_corpus("ag_news", data_dir=str(full_copy), validation_split_percentage=20)
    assert {split: len(rows) for split, rows in corpus.items()} == {"train": 32, "validation": 8, "test": 2}
    assert Counter(corpus["validation"]["label"]) == {0: 2, 1: 2, 2: 2, 3: 2}


def test_partial_layout_returns_the_splits_it_has(tmp_path):
    root = make_layout(tmp_path / "ag", {"test.csv": TEST_CSV, "classes.txt": CLASSES})
    assert list(read_ag_news_csv_dir(root)) == ["test"]


def test_explicit_folder_without_train_csv_is_a_clear_error(tmp_path):
    root = make_layout(tmp_path / "ag", {"test.csv": TEST_CSV, "classes.txt": CLASSES})
    with pytest.raises(TextclsError) as error:
        load_corpus("ag_news", data_dir=str(root))
    message = str(error.value)
    assert "train.csv is missing in data_dir" in message and str(root) in message
    assert "fancyzhx/ag_news" in message and "train_file" in message


def test_missing_classes_txt(tmp_path):
    root = make_layout(tmp_path / "ag", {"train.csv": TRAIN_CSV})
    with pytest.raises(TextclsError, match=r"classes\.txt is missing.*World, Sports, Business, Sci/Tech"):
        read_ag_news_csv_dir(root)


def test_folder_without_any_split(tmp_path):
    root = make_layout(tmp_path / "ag", {"classes.txt": CLASSES})
    with pytest.raises(TextclsError, match=r"holds neither train\.csv nor test\.csv \(found: \['classes\.txt'\]\)"):
        read_ag_news_csv_dir(root)


def test_malformed_row_names_file_and_line(tmp_path):
    root = make_layout(tmp_path / "ag", {"test.csv": TEST_CSV + '"7","x","y"\n', "classes.txt": CLASSES})
    with pytest.raises(TextclsError, match=r"test\.csv, line 3: expected 3 fields .*1\.\.4"):
        read_ag_news_csv_dir(root)


def test_non_utf8_file(tmp_path):
    root = make_layout(tmp_path / "ag", {"classes.txt": CLASSES})
    (root / "test.csv").write_bytes('"1","Café","crème"\n'.encode("latin-1"))
    with pytest.raises(TextclsError, match=r"test\.csv is not UTF-8 .*iconv -f latin1 -t utf-8"):
        read_ag_news_csv_dir(root)


def test_env_copy_without_train_tries_the_hub_and_says_both(tmp_path, monkeypatch):
    make_layout(tmp_path / "ag_news", {"test.csv": TEST_CSV, "classes.txt": CLASSES})
    monkeypatch.setenv("TEXTCLS_DATA_DIR", str(tmp_path))
    with pytest.raises(TextclsError) as error:  # the tests run offline, so the Hub fails
        load_corpus("ag_news")
    message = str(error.value)
    assert f"$TEXTCLS_DATA_DIR/ag_news = {tmp_path / 'ag_news'}, which has no train.csv" in message
    assert "then the Hub (fancyzhx/ag_news)" in message


def test_hub_copy_is_reduced_to_text_and_label(monkeypatch):
    names = ["World", "Sports", "Business", "Sci/Tech"]
    hub_features = Features({"text": Value("large_string"), "label": ClassLabel(names=names), "id": Value("int64")})
    split = Dataset.from_dict({"text": ["a b", "c d"], "label": [0, 3], "id": [1, 2]}, features=hub_features)
    monkeypatch.setattr(ag_news.datasets, "load_dataset", lambda *args, **kwargs: DatasetDict(train=split, test=split))
    monkeypatch.delenv("TEXTCLS_DATA_DIR", raising=False)
    corpus = ag_news.load_ag_news()
    assert corpus["train"].features == Features({"text": Value("string"), "label": ClassLabel(names=names)})
    assert corpus["test"]["label"] == [0, 3]


@pytest.mark.integration
def test_shared_test_csv(data_dir):
    corpus = read_ag_news_csv_dir(data_dir / "ag_news")
    assert list(corpus) == ["test"]
    test = corpus["test"]
    assert len(test) == 7600
    assert test.features["label"].names == ["World", "Sports", "Business", "Sci/Tech"]
    assert Counter(test["label"]) == {0: 1900, 1: 1900, 2: 1900, 3: 1900}
    assert test[0]["text"].startswith("Fears for T N pension after talks Unions representing workers at Turner")
    assert test[0]["label"] == 2


@pytest.mark.integration
def test_shared_copy_cannot_be_trained_on(data_dir):
    with pytest.raises(TextclsError, match=r"train\.csv is missing in data_dir = .*ag_news \(found: \["):
        load_corpus("ag_news", data_dir=str(data_dir / "ag_news"))
