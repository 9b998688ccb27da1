"""Multi-label, regression and sentence-pair files through load_corpus: label shapes, inference, file layouts,
and the bad input that must stop with the file, the column and the row."""

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from datasets import ClassLabel, List, Value

from data_scripts import label_names_of_features, load_corpus, problem_type_of_features
from data_scripts.labels import multi_hot
from textcls_errors import TextclsError
from training.arguments import parse_arguments

MULTI = "multi_label_classification"
REPO = Path(__file__).resolve().parent.parent


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_a_list_column_is_multi_label_and_rows_without_labels_are_valid(tmp_path, caplog):
    rows = [{"text": f"t{i}", "label": labels} for i, labels in enumerate([["joy", "love"], [], ["anger"], ["joy"]])]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    with caplog.at_level(logging.INFO, logger="data_scripts"):
        corpus = load_corpus(None, train_file=path, validation_file=path)
    assert "problem_type multi_label_classification, inferred from the labels of column 'label'" in caplog.text
    features = corpus["validation"].features
    assert features["label"] == List(ClassLabel(names=["anger", "joy", "love"]))
    assert problem_type_of_features(features) == MULTI
    assert label_names_of_features(features) == ["anger", "joy", "love"]
    assert corpus["validation"]["label"] == [[1, 2], [], [0], [1]]
    assert multi_hot(corpus["validation"]["label"], 3).tolist()[:2] == [[0, 1, 1], [0, 0, 0]]


def test_a_delimited_string_in_csv_with_label_separator(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\nfirst,sport|politics\nsecond,\nthird,politics\nfourth, sport \n")
    corpus = load_corpus(None, train_file=str(path), validation_file=str(path), label_separator="|")
    assert corpus["validation"].features["label"].feature.names == ["politics", "sport"]
    assert corpus["validation"]["label"] == [[0, 1], [], [0], [1]]


def test_several_zero_one_columns_keep_their_order(tmp_path):
    frame = pd.DataFrame({"tweet": ["a", "b", "c"], "joy": [1, 0, 0], "anger": [1, 0, 1]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    path = str(tmp_path / "t.csv")
    corpus = load_corpus(
        None, train_file=path, validation_file=path, text_columns=["tweet"], label_columns=["joy", "anger"]
    )
    assert corpus["validation"].features["label"].feature.names == ["joy", "anger"]
    assert corpus["validation"]["label"] == [[0, 1], [], [1]]

    with pytest.raises(TextclsError, match=r"has no label column\(s\) \['fear'\]; its columns are \['tweet', 'joy'"):
        load_corpus(None, train_file=path, text_columns=["tweet"], label_columns=["joy", "fear"])
    frame.loc[2, "joy"] = 2
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(TextclsError, match=r"bad\.csv', column 'joy': .* 0 or 1 in every row; row 3 .*'2'"):
        load_corpus(None, train_file=str(tmp_path / "bad.csv"), text_columns=["tweet"], label_columns=["joy", "anger"])


def test_a_float_column_is_regression_and_a_word_in_it_is_named(tmp_path, caplog):
    path = tmp_path / "train.csv"
    path.write_text("text,score\na,0.5\nb,4.25\nc,3\nd,1.75\n")
    with caplog.at_level(logging.INFO, logger="data_scripts"):
        corpus = load_corpus(None, train_file=str(path), validation_file=str(path), label_column="score")
    assert "problem_type regression, inferred" in caplog.text
    assert corpus["validation"].features["label"] == Value("float32")
    assert corpus["validation"]["label"] == [0.5, 4.25, 3.0, 1.75]
    assert label_names_of_features(corpus["validation"].features, "score") == ["score"]

    path.write_text("text,score\na,0.5\nb,high\nc,3\n")
    with pytest.raises(TextclsError, match=r"train\.csv', column 'score': regression labels must be numbers; row 2"):
        load_corpus(None, train_file=str(path), label_column="score", problem_type="regression")


def test_mixed_label_types_stop_naming_the_odd_rows(tmp_path):
    """Issue 16: a JSON class name beside a float, a CSV '0' beside 'sports', never become extra classes."""
    json_rows = [{"text": f"t{i}", "label": "cars"} for i in range(4)] + [{"text": "x", "label": 2.5}]
    path = write_jsonl(tmp_path / "train.jsonl", json_rows)
    with pytest.raises(TextclsError, match=r"train\.jsonl', column 'label': labels must read one way .* row 5 "):
        load_corpus(None, train_file=path)
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("text,label\na,sports\nb,world\nc,0\nd,sports\n")
    with pytest.raises(TextclsError, match=r"mixes integer, name; row 3 \(1-based"):
        load_corpus(None, train_file=str(csv_path))


def test_validation_labels_unknown_to_train_are_named_for_multi_label(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": ["x"]}, {"text": "b", "label": ["y"]}])
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "a", "label": ["x", "z"]}])
    with pytest.raises(
        TextclsError, match=r"test_file=.* has label\(s\) \['z'\] that train_file=.*train.jsonl' never uses"
    ):
        load_corpus(None, train_file=train, test_file=test)


def test_sentence_pairs_from_a_pair_column_or_two_text_columns(tmp_path):
    path = tmp_path / "nli.csv"
    path.write_text("premise,hypothesis,label\nA man sleeps.,A person rests.,entail\nIt rains.,It is dry.,contra\n")
    for settings in ({"text_columns": ["premise"], "text_pair_column": "hypothesis"},
                     {"text_columns": ["premise", "hypothesis"], "text_pair": True}):  # fmt: skip
        corpus = load_corpus(None, train_file=str(path), validation_file=str(path), **settings)
        assert corpus["validation"][0] == {"text": "A man sleeps.", "text_pair": "A person rests.", "label": 1}
    path.write_text("premise,hypothesis,label\nA man sleeps.,,entail\nIt rains.,It is dry.,contra\n")
    with pytest.raises(TextclsError, match=r"nli\.csv'?: row 1 .* empty or missing text in \['hypothesis'\]"):
        load_corpus(None, train_file=str(path), text_columns=["premise"], text_pair_column="hypothesis")
    with pytest.raises(TextclsError, match=r"no column\(s\) \['second'\]"):
        load_corpus(None, train_file=str(path), text_columns=["premise"], text_pair_column="second")


def test_a_headerless_tab_file_without_quoting_and_with_ragged_rows(tmp_path, caplog):
    path = tmp_path / "pairs.csv"
    lines = ['g\t0.5\tHe said "hi.\tShe left.', "g\t4.0\tA cat.\tA dog.\tnote\tmore", "g\t2\tRain.\tSun."]
    path.write_text("\n".join(lines) + "\n")
    settings = dict(
        delimiter="\t",
        column_names=["genre", "score", "s1", "s2"],
        quoting="none",
        text_columns=["s1"],
        text_pair_column="s2",
        label_column="score",
    )
    with caplog.at_level(logging.WARNING, logger="data_scripts"):
        corpus = load_corpus(None, train_file=str(path), validation_file=str(path), **settings)
    assert "1 rows have more than the 4 named columns" in caplog.text
    assert corpus["validation"]["text"] == ['He said "hi.', "A cat.", "Rain."]
    assert corpus["validation"]["text_pair"] == ["She left.", "A dog.", "Sun."]
    assert corpus["validation"]["label"] == [0.5, 4.0, 2.0]

    path.write_text("text,label\nhello, world,sports\nfine,world\n")  # an unquoted comma shifts the columns
    with pytest.raises(TextclsError, match=r"row 1 \(1-based .* more fields than the 2 of the header"):
        load_corpus(None, train_file=str(path))


def test_multi_label_and_regression_get_a_random_validation_split(tmp_path):
    rows = [{"text": f"t{i}", "label": ["a"] if i % 2 else ["b"]} for i in range(40)]
    corpus = load_corpus(None, train_file=write_jsonl(tmp_path / "t.jsonl", rows), seed=3, max_train_samples=20)
    assert (len(corpus["train"]), len(corpus["validation"])) == (20, 4)
    again = load_corpus(None, train_file=str(tmp_path / "t.jsonl"), seed=3, max_train_samples=20)
    assert corpus["validation"]["text"] == again["validation"]["text"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"problem_type": "multilabel"}, "problem_type must be one of"),
        ({"label_columns": ["a"], "label_separator": "|"}, "pick one"),
        ({"label_separator": "|", "problem_type": "regression"}, "give several labels per row"),
        ({"text_pair": True}, "text_pair: true reads the two text_columns"),
    ],
)
def test_setting_mistakes_are_named(tmp_path, settings, message):
    path = tmp_path / "t.csv"
    path.write_text("text,label\na,x\nb,y\n")
    with pytest.raises(TextclsError, match=message):
        load_corpus(None, train_file=str(path), **settings)


def test_named_datasets_refuse_file_settings():
    with pytest.raises(TextclsError, match=r"label_columns=\['a'\]: not used with dataset_name='ag_news'"):
        load_corpus("ag_news", label_columns=["a"])


@pytest.mark.integration
def test_semeval_2018_ec_reads_as_eleven_labels(data_dir):
    path = str(data_dir / "semeval2018_ec" / "2018-E-c-En-train.txt")
    emotions = "anger anticipation disgust fear joy love optimism pessimism sadness surprise trust".split()
    corpus = load_corpus(
        None,
        train_file=path,
        test_file=path,
        delimiter="\t",
        quoting="none",
        text_columns=["Tweet"],
        label_columns=emotions,
    )
    test = corpus["test"]
    assert len(test) == 6838 and len(corpus["train"]) + len(corpus["validation"]) == 6838
    assert test.features["label"].feature.names == emotions
    counts = multi_hot(test["label"], 11).sum(axis=0)
    # the shared README's table: anger 2,544 ... trust 357, and 204 rows without any emotion
    assert counts.tolist() == [2544, 978, 2602, 1242, 2477, 700, 1984, 795, 2008, 361, 357]
    assert sum(1 for labels in test["label"] if not labels) == 204


@pytest.mark.integration
def test_sts_benchmark_reads_as_pair_regression(data_dir, caplog):
    folder = data_dir / "stsbenchmark"
    with caplog.at_level(logging.WARNING, logger="data_scripts"):
        corpus = load_corpus(
            None,
            train_file=str(folder / "sts-train.csv"),
            validation_file=str(folder / "sts-dev.csv"),
            delimiter="\t",
            quoting="none",
            column_names=["genre", "file", "years", "id", "score", "sentence1", "sentence2"],
            text_columns=["sentence1"],
            text_pair_column="sentence2",
            label_column="score",
        )
    assert "sts-train.csv: 197 rows have more than the 7 named columns" in caplog.text
    assert (len(corpus["train"]), len(corpus["validation"])) == (5749, 1500)
    assert problem_type_of_features(corpus["train"].features) == "regression"
    scores = corpus["train"]["label"]
    assert min(scores) == 0.0 and max(scores) == 5.0
    assert all(text and pair for text, pair in zip(corpus["train"]["text"], corpus["train"]["text_pair"], strict=True))


def test_test_split_percentage_holds_out_a_test_split(tmp_path):
    rows = [{"text": f"t{i}", "label": ["a"] if i % 2 else []} for i in range(40)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    corpus = load_corpus(None, train_file=path, test_split_percentage=25, validation_split_percentage=10, seed=1)
    assert list(corpus) == ["train", "validation", "test"]
    assert (len(corpus["train"]), len(corpus["validation"]), len(corpus["test"])) == (27, 3, 10)
    texts = [set(corpus[split]["text"]) for split in corpus]
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2])  # test rows are never trained or validated on
    with pytest.raises(TextclsError, match="already has one"):
        load_corpus(None, train_file=path, test_file=path, test_split_percentage=25)


@pytest.mark.integration
@pytest.mark.parametrize("config", ["minilm_semeval_ec.json", "glove_semeval_ec.json", "minilm_stsb.json"])
def test_shipped_configs_read_the_shared_data(config, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTCLS_DATA_DIR", str(data_dir))
    arguments = parse_arguments([str(REPO / "configs" / config), "--output_dir", str(tmp_path)])
    data_args, training_args = arguments[1], arguments[-1]
    corpus = load_corpus(None, **data_args.corpus_settings(), seed=training_args.seed)
    assert list(corpus) == ["train", "validation", "test"]
    expected = "regression" if "stsb" in config else MULTI
    assert problem_type_of_features(corpus["train"].features) == expected


def test_labels_read_once_per_distinct_text_read_as_each_alone():
    from data_scripts.labels import class_names, kind_of, kinds_of

    values = ["1", "1.0", " 2 ", "x", None, 1, True, 2.5, float("nan"), "nan", [1], "3.5", 1.0, "", "1", "x", " 2 "]
    assert kinds_of(values) == [kind_of(value) for value in values]
    texts = ["1", "1.0", " 2 ", "x", 1, True, "nan", "3.5", "", "1", "x", " 2 ", 2.0]
    assert class_names(texts) == ["1", "1", "2", "x", "1", "True", "nan", "3.5", "", "1", "x", "2", "2"]
