"""The user's own files through load_corpus: formats, columns, labels, and every user error."""

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, Features, Value

from data_scripts import load_corpus
from textcls_errors import TextclsError

ROWS = [(f"document number {i}", "sports" if i % 3 == 0 else "world") for i in range(30)]


def write_csv(path: Path, rows, header=("text", "label"), sep=",") -> str:
    pd.DataFrame(rows, columns=list(header)).to_csv(path, index=False, sep=sep)
    return str(path)


def test_csv_with_string_labels(tmp_path):
    corpus = load_corpus(None, train_file=write_csv(tmp_path / "train.csv", ROWS))
    assert list(corpus) == ["train", "validation"]
    assert corpus["train"].features == Features(
        {"text": Value("string"), "label": ClassLabel(names=["sports", "world"])}
    )
    assert len(corpus["train"]) + len(corpus["validation"]) == 30
    assert Counter(corpus["validation"]["label"]) == {0: 1, 1: 2}  # 10 of 30, stratified


def test_every_format_gives_the_same_rows(tmp_path):
    frame = pd.DataFrame(ROWS, columns=["text", "label"])
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "a.tsv", index=False, sep="\t")
    frame.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    frame.to_json(tmp_path / "a.json", orient="records")
    frame.to_parquet(tmp_path / "a.parquet")
    results = [
        load_corpus(None, train_file=str(tmp_path / f"a.{ext}"), validation_file=str(tmp_path / f"a.{ext}"))
        for ext in ("csv", "tsv", "jsonl", "json", "parquet")
    ]
    for corpus in results:
        assert corpus["validation"]["text"] == [text for text, _ in ROWS]
        assert corpus["validation"]["label"] == results[0]["validation"]["label"]
        assert corpus["validation"].features["label"].names == ["sports", "world"]


def test_text_columns_are_joined_with_a_newline(tmp_path):
    rows = [(f"title {i}", f"body {i}", i % 2) for i in range(10)]
    path = write_csv(tmp_path / "train.csv", rows, header=("title", "body", "y"))
    corpus = load_corpus(None, train_file=path, test_file=path, text_columns=["title", "body"], label_column="y")
    assert corpus["test"][3] == {"text": "title 3\nbody 3", "label": 1}


def test_integer_labels_sort_numerically(tmp_path):
    rows = [(f"text {i}", [10, 2, 33][i % 3]) for i in range(12)]
    path = write_csv(tmp_path / "train.csv", rows)
    corpus = load_corpus(None, train_file=path, test_file=path)
    assert corpus["test"].features["label"].names == ["2", "10", "33"]
    assert corpus["test"]["label"][:3] == [1, 0, 2]


def test_integer_labels_match_across_formats(tmp_path):
    train = write_csv(tmp_path / "train.csv", [(f"t {i}", i % 2) for i in range(10)])
    test = tmp_path / "test.jsonl"
    test.write_text('{"text": "x", "label": "1"}\n{"text": "y", "label": 0}\n')
    assert load_corpus(None, train_file=train, test_file=str(test))["test"]["label"] == [1, 0]


def test_words_like_na_and_null_are_text_not_missing(tmp_path):
    rows = [("NA", "a"), ("null", "b"), ("None", "a"), ("n/a", "b")] * 3
    corpus = load_corpus(None, train_file=write_csv(tmp_path / "t.csv", rows), validation_file=str(tmp_path / "t.csv"))
    assert corpus["validation"]["text"][:4] == ["NA", "null", "None", "n/a"]


def test_parquet_written_by_datasets_keeps_its_class_order(tmp_path):
    features = Features({"text": Value("string"), "label": ClassLabel(names=["zeta", "alpha"])})
    Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]}, features=features).to_parquet(
        tmp_path / "t.parquet"
    )
    path = str(tmp_path / "t.parquet")
    corpus = load_corpus(None, train_file=path, validation_file=path)
    assert corpus["validation"].features["label"].names == ["zeta", "alpha"]
    assert corpus["validation"]["label"] == [0, 1, 0, 1]


def test_no_train_file_is_an_error():
    with pytest.raises(TextclsError, match="set dataset_name .* or give a train_file"):
        load_corpus(None)


def test_missing_file_is_named(tmp_path):
    train = write_csv(tmp_path / "train.csv", ROWS)
    with pytest.raises(TextclsError, match=r"validation_file='.*nope\.csv': no such file"):
        load_corpus(None, train_file=train, validation_file=str(tmp_path / "nope.csv"))


def test_unknown_extension_lists_accepted_ones(tmp_path):
    (tmp_path / "train.xlsx").write_text("x")
    with pytest.raises(TextclsError, match=r"unknown extension '\.xlsx'; accepted: \.csv, \.tsv, \.json"):
        load_corpus(None, train_file=str(tmp_path / "train.xlsx"))


def test_missing_text_column_names_file_column_and_existing_columns(tmp_path):
    path = write_csv(tmp_path / "train.csv", ROWS, header=("sentence", "label"))
    with pytest.raises(TextclsError) as error:
        load_corpus(None, train_file=path)
    message = str(error.value)
    assert "train.csv" in message and "['text']" in message and "['sentence', 'label']" in message


def test_missing_label_column(tmp_path):
    path = write_csv(tmp_path / "train.csv", ROWS, header=("text", "category"))
    with pytest.raises(TextclsError, match=r"no label column 'label'; its columns are \['text', 'category'\]"):
        load_corpus(None, train_file=path)


def test_label_unknown_to_train_is_named_with_the_known_set(tmp_path):
    train = write_csv(tmp_path / "train.csv", ROWS)
    test = write_csv(tmp_path / "test.csv", [("x", "world"), ("y", "science")])
    with pytest.raises(TextclsError) as error:
        load_corpus(None, train_file=train, test_file=test)
    message = str(error.value)
    assert "test_file=" in message and "['science']" in message and "['sports', 'world']" in message


def test_empty_and_missing_text_rows_are_listed(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\nfine,a\n,b\n   ,a\nfine again,b\n"",a\n')
    with pytest.raises(TextclsError, match=r"train\.csv'?: rows 2, 3, 5 \(1-based data rows"):
        load_corpus(None, train_file=str(path))


def test_null_text_in_jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [{"text": "a", "label": 1}, {"text": None, "label": 0}]))
    with pytest.raises(TextclsError, match="row 2 .* empty or missing text"):
        load_corpus(None, train_file=str(path))


def test_missing_labels_are_an_error(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\na,1\nb,\nc,2\n")
    with pytest.raises(TextclsError, match=r"row 2 .* have no label in column 'label'"):
        load_corpus(None, train_file=str(path))


@pytest.mark.parametrize("name", ["train.csv", "train.jsonl"])
def test_latin1_file_gets_a_reencoding_hint(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_bytes("text,label\ncafé au lait,a\nthé,b\n".encode("latin-1"))
    else:
        path.write_bytes('{"text": "café", "label": "a"}\n'.encode("latin-1"))
    with pytest.raises(TextclsError, match=rf"{name}'? is not UTF-8 .*iconv -f latin1 -t utf-8"):
        load_corpus(None, train_file=str(path))


def test_header_only_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n")
    with pytest.raises(TextclsError, match="has no data rows"):
        load_corpus(None, train_file=str(path))


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('{"text": "a", "label": 1\n')
    with pytest.raises(TextclsError, match=r"train_file='.*train\.json' could not be read as json"):
        load_corpus(None, train_file=str(path))


def test_fractional_labels_are_not_classes(tmp_path):
    """A float label column is a regression target (issue 14), never a set of classes named '0.5', '1.5'."""
    path = write_csv(tmp_path / "train.csv", [("a", 0.5), ("b", 1.5), ("c", 2.0), ("d", 1.0)])
    corpus = load_corpus(None, train_file=path, validation_file=path)
    assert corpus["validation"]["label"] == [0.5, 1.5, 2.0, 1.0]
    with pytest.raises(TextclsError, match=r"column 'label': labels must read one way .* rows 1, 2 \(1-based"):
        load_corpus(None, train_file=path, problem_type="single_label_classification")


def test_a_single_class_is_refused(tmp_path):
    path = write_csv(tmp_path / "train.csv", [(f"t {i}", "only") for i in range(5)])
    with pytest.raises(TextclsError, match=r"single class \['only'\]"):
        load_corpus(None, train_file=path)


@pytest.mark.parametrize(
    ("dataset_name", "kwargs", "message"),
    [
        ("imdb", {}, r"dataset_name='imdb': unknown; accepted: ag_news, 20newsgroups"),
        ("ag_news", {"train_file": "x.csv"}, r"train_file='x\.csv': not used with dataset_name='ag_news'"),
        ("ag_news", {"categories": ["World"]}, r"categories=\['World'\]: not used with"),
        ("20newsgroups", {"label_column": "y"}, r"label_column='y': not used with"),
        (None, {"data_dir": "/data"}, r"data_dir='/data': used only with a named dataset"),
        (None, {"text_columns": []}, r"text_columns=\[\]: expected a non-empty list"),
        (None, {"max_train_samples": 0}, r"max_train_samples=0: expected a positive"),
        (None, {"validation_split_percentage": 0}, r"validation_split_percentage=0"),
    ],
)
def test_argument_mistakes_are_caught_before_loading(tmp_path, dataset_name, kwargs, message):
    if dataset_name is None:
        kwargs["train_file"] = write_csv(tmp_path / "train.csv", ROWS)
    with pytest.raises(TextclsError, match=message):
        load_corpus(dataset_name, **kwargs)


def test_max_samples_on_local_files(tmp_path):
    path = write_csv(tmp_path / "train.csv", ROWS)
    corpus = load_corpus(
        None, train_file=path, test_file=path, max_train_samples=9, max_eval_samples=2, max_predict_samples=6
    )
    assert {split: len(rows) for split, rows in corpus.items()} == {"train": 9, "validation": 2, "test": 6}
    assert Counter(corpus["test"]["label"]) == {0: 2, 1: 4}
