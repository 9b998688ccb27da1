"""predict.py and inference/: raw texts in, the saved model's probabilities out, for transformer and word models."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import demo_app
import predict
from data_scripts.text_cleaning import TextCleaning, build_cleaner
from inference import TextClassifier
from modeling.word_models import build_word_model
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError

REPO = Path(__file__).resolve().parent.parent
LABELS = ["business", "science", "sports"]
TEXTS = [
    "The Rockets won the game in overtime, the coach said.",
    "Shares of the bank fell after its quarterly report!",
    "Astronomers found water ice on a distant moon.",
    "It was a quiet day.",
]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", TEXTS * 10, label_names=LABELS)


@pytest.fixture(scope="module")
def cleaned_glove_dir(tmp_path_factory):
    """A GloVe model trained (as run_classification records it) on lowercased text without stop words."""
    torch.manual_seed(0)
    cleaning = TextCleaning(simple_preprocess=True, remove_stopwords=True)
    cleaned = build_cleaner(cleaning)({"text": TEXTS})["text"]
    model, tokenizer = build_word_model("glove", cleaned, LABELS, word_vectors=None)
    model.config.text_cleaning = cleaning.as_config()
    folder = tmp_path_factory.mktemp("glove")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def direct_probabilities(folder: Path, texts: list[str]) -> np.ndarray:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        rows = [model(**tokenizer(text, truncation=True, return_tensors="pt")).logits for text in texts]
    return torch.softmax(torch.cat(rows), dim=-1).numpy()


def test_transformer_probabilities_match_the_model_in_label_order(bert_dir):
    classifier = TextClassifier(bert_dir, device="cpu", batch_size=3)
    assert classifier.label_names == LABELS
    probabilities = classifier.predict_proba(TEXTS)
    np.testing.assert_allclose(probabilities, direct_probabilities(bert_dir, TEXTS), atol=1e-5)
    assert classifier.predict_proba([]).shape == (0, 3)


def test_word_model_gets_the_cleaning_it_was_trained_with(cleaned_glove_dir):
    classifier = TextClassifier(cleaned_glove_dir, device="cpu")
    assert classifier.clean(["The Rockets WON the game!"]) == ["rockets won game"]
    cleaned = classifier.clean(TEXTS)
    np.testing.assert_allclose(
        classifier.predict_proba(TEXTS), direct_probabilities(cleaned_glove_dir, cleaned), atol=1e-5
    )


def test_a_classifier_runs_on_its_threads_and_leaves_the_host_process_its_own(cleaned_glove_dir, monkeypatch):
    """torch's thread count is process-wide: opening a word model (one thread) must not set it for the host."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)  # the host's setting, whatever the machine has
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    classifier = TextClassifier(cleaned_glove_dir, device="cpu", backend="torch")
    assert seen == []  # opening it changes nothing
    classifier.predict_proba(TEXTS[:2])
    assert seen[0] == 1 and seen[-1] == 3  # one thread for the word model's call, then the host's count back


def test_cli_texts_to_json_lines_on_stdout(bert_dir, capsys):
    predict.main(["--model_dir", str(bert_dir), "--text", TEXTS[0], "--text", TEXTS[1]])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == TEXTS[:2]
    for row in rows:
        probabilities = [row[f"prob_{name}"] for name in LABELS]
        assert sum(probabilities) == pytest.approx(1, abs=1e-5)
        assert row["label"] == LABELS[int(np.argmax(probabilities))]
        assert row["score"] == pytest.approx(max(probabilities), abs=1e-6)


def test_cli_table_keeps_its_columns_and_writes_csv(bert_dir, tmp_path):
    table = tmp_path / "articles.csv"
    pd.DataFrame({"id": ["a1", "b2", "c3", "d4"], "body": TEXTS}).to_csv(table, index=False)
    output = tmp_path / "out" / "predictions.csv"
    predict.main(
        ["--model_dir", str(bert_dir), "--input", str(table), "--text_column", "body", "--output", str(output)]
    )
    written = pd.read_csv(output)
    assert written["id"].tolist() == ["a1", "b2", "c3", "d4"]
    assert written["text"].tolist() == TEXTS
    expected = direct_probabilities(bert_dir, TEXTS)
    np.testing.assert_allclose(written[[f"prob_{name}" for name in LABELS]].to_numpy(), expected, atol=1e-5)


def test_cli_reads_lines_from_stdin_and_jsonl_files(cleaned_glove_dir, tmp_path, monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(TEXTS[:2]) + "\n\n").encode())))
    predict.main(["--model_dir", str(cleaned_glove_dir), "--input", "-"])
    from_stdin = pd.read_json(io.StringIO(capsys.readouterr().out), lines=True)
    assert from_stdin["text"].tolist() == TEXTS[:2]  # the blank line is not a text

    records = tmp_path / "texts.jsonl"
    records.write_text("".join(json.dumps({"text": text, "n": i}) + "\n" for i, text in enumerate(TEXTS)))
    output = tmp_path / "predictions.jsonl"
    predict.main(["--model_dir", str(cleaned_glove_dir), "--input", str(records), "--output", str(output)])
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["n"] for row in rows] == [0, 1, 2, 3]
    assert [row["label"] for row in rows[:2]] == from_stdin["label"].tolist()


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: ["--model_dir", str(t), "--text", "x"], "holds no config.json"),
        (lambda d, t: ["--model_dir", str(d), "--input", str(t / "missing.csv")], "input file not found"),
        (lambda d, t: ["--model_dir", str(d), "--input", str(t / "table.csv")], "has no column 'text'"),
        (lambda d, t: ["--model_dir", str(d), "--text", "x", "--output", str(t / "out.xlsx")], "unknown extension"),
    ],
)
def test_bad_input_is_one_clear_message(make_args, message, bert_dir, tmp_path):
    pd.DataFrame({"body": ["a text"]}).to_csv(tmp_path / "table.csv", index=False)
    with pytest.raises(TextclsError, match=message):
        predict.main(make_args(bert_dir, tmp_path))


def test_script_exits_2_without_a_traceback(tmp_path):
    finished = subprocess.run(
        [sys.executable, "predict.py", "--model_dir", str(tmp_path), "--text", "hello"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 2
    assert "error:" in finished.stderr and "Traceback" not in finished.stderr


def test_predictions_equal_the_runs_own_test_predictions(tmp_path):
    """A run that cut long texts at both ends (head+tail) and cleaned them: predict.py reads them alike."""
    import run_classification
    from tests.test_run_classification import config_for, write_splits

    files = write_splits(tmp_path, 120, 30, 30)
    model_dir = build_tiny_model(tmp_path / "bert", "bert", pd.read_csv(files["train"])["body"].tolist(), 3)
    settings = dict(max_seq_length=10, truncation_side="head+tail", simple_preprocess=True, num_train_epochs=2)
    run_classification.main([config_for(tmp_path, model_dir, files, **settings)])
    out = tmp_path / "out"
    expected = pd.read_csv(out / "predictions.csv")

    texts_only = tmp_path / "texts.csv"
    expected[["text"]].to_csv(texts_only, index=False)
    predict.main(["--model_dir", str(out), "--input", str(texts_only), "--output", str(tmp_path / "predicted.csv")])
    predicted = pd.read_csv(tmp_path / "predicted.csv")
    columns = [column for column in expected if column.startswith("prob_")]
    np.testing.assert_allclose(predicted[columns].to_numpy(), expected[columns].to_numpy(), atol=1e-5)
    assert (predicted["label"] == expected["predicted"]).all()


def test_awkward_tables(bert_dir, tmp_path, capsys):
    """A gold label column and an old text column survive beside the predictions; empty tables are refused."""
    table = tmp_path / "gold.csv"
    pd.DataFrame({"text": ["old"] * 2, "body": TEXTS[:2], "label": ["sports", "business"]}).to_csv(table, index=False)
    predict.main(["--model_dir", str(bert_dir), "--input", str(table), "--text_column", "body"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    result = pd.DataFrame([json.loads(line) for line in lines])
    assert result["input_label"].tolist() == ["sports", "business"] and result["input_text"].tolist() == ["old"] * 2
    assert result["text"].tolist() == TEXTS[:2] and set(result["label"]) <= set(LABELS)

    empty = tmp_path / "empty.csv"
    empty.write_text("text\n")
    with pytest.raises(TextclsError, match="no rows"):
        predict.main(["--model_dir", str(bert_dir), "--input", str(empty)])
    with pytest.raises(TextclsError, match="at least 8"):
        predict.main(["--model_dir", str(bert_dir), "--text", "x", "--max_length", "2"])
    with pytest.raises(TextclsError, match="cannot use device"):
        predict.main(["--model_dir", str(bert_dir), "--text", "x", "--device", "gpu"])


def test_stdin_that_is_not_utf8_is_one_message(bert_dir, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"ok\n\xff bad\n")))
    with pytest.raises(TextclsError, match="not UTF-8"):
        predict.main(["--model_dir", str(bert_dir), "--input", "-"])


def test_a_folder_without_a_truncation_record_reads_the_side_it_is_told(bert_dir):
    # bert_dir records no text_truncation (as folders trained before it existed): head unless told otherwise.
    long_text = " ".join(TEXTS * 5)
    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    ids = tokenizer(long_text)["input_ids"]
    tail_text = tokenizer.decode(ids[-9:-1])  # the last 8 tokens, which a tail read of 10 ids (with specials) sees
    head = TextClassifier(bert_dir, device="cpu", max_length=10)
    tail = TextClassifier(bert_dir, device="cpu", max_length=10, truncation_side="tail")
    assert tail.tokenize({"text": [long_text]})["input_ids"][0][1:-1] == ids[-9:-1]
    assert head.tokenize({"text": [long_text]})["input_ids"][0][1:-1] == ids[1:9]
    np.testing.assert_allclose(tail.predict_proba([long_text]), tail.predict_proba([tail_text]), atol=1e-6)
    with pytest.raises(TextclsError, match="truncation_side='middle': expected one of head, tail, head\\+tail"):
        TextClassifier(bert_dir, device="cpu", truncation_side="middle")


# Streaming: chunks, resume, rows without text, outputs checked before the model loads

MANY_TEXTS = [f"{text} Item {i}." + " more words" * (i % 7) for i, text in enumerate(TEXTS * 12)]


def write_table(path: Path, texts: list[str]) -> Path:
    pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("folder", ["bert_dir", "cleaned_glove_dir"])
def test_chunked_output_equals_unchunked_row_for_row(folder, request, tmp_path):
    model_dir = str(request.getfixturevalue(folder))
    table = write_table(tmp_path / "in.csv", MANY_TEXTS)
    for chunk_size in (5, 1000):
        output = tmp_path / f"out_{chunk_size}.csv"
        summary = predict.main(
            ["--model_dir", model_dir, "--input", str(table), "--output", str(output), "--chunk_size", str(chunk_size)]
        )
        assert summary["rows"] == len(MANY_TEXTS)
        assert not Path(str(output) + ".progress").exists()  # a finished output has no progress record
    chunked, whole = pd.read_csv(tmp_path / "out_5.csv"), pd.read_csv(tmp_path / "out_1000.csv")
    assert chunked["id"].tolist() == whole["id"].tolist() == [f"r{i}" for i in range(len(MANY_TEXTS))]
    assert chunked["label"].tolist() == whole["label"].tolist()
    probabilities = [f"prob_{name}" for name in LABELS]
    np.testing.assert_allclose(chunked[probabilities].to_numpy(), whole[probabilities].to_numpy(), atol=2e-6)
    expected = direct_probabilities(Path(model_dir), TextClassifier(model_dir, device="cpu").clean(MANY_TEXTS))
    np.testing.assert_allclose(chunked[probabilities].to_numpy(), expected, atol=1e-5)


def test_resume_cuts_a_half_written_chunk_and_gives_the_same_file(cleaned_glove_dir, tmp_path, monkeypatch):
    table = write_table(tmp_path / "in.csv", MANY_TEXTS)
    arguments = ["--model_dir", str(cleaned_glove_dir), "--input", str(table), "--chunk_size", "4"]
    predict.main([*arguments, "--output", str(tmp_path / "reference.csv")])

    output = tmp_path / "out.csv"
    original_write, calls = predict.PredictionWriter.write, []

    def write_then_die(self, frame):
        calls.append(len(frame))
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a user's Ctrl-C between two chunks
        original_write(self, frame)

    monkeypatch.setattr(predict.PredictionWriter, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        predict.main([*arguments, "--output", str(output)])
    monkeypatch.undo()
    assert len(pd.read_csv(output)) == 8  # a valid prefix: two chunks
    with open(output, "a") as file:  # and half a chunk, as a kill in the middle of a write leaves
        file.write('r8,"The Rockets won the ga')
    summary = predict.main([*arguments, "--output", str(output), "--resume"])
    assert summary["rows"] == len(MANY_TEXTS)
    assert output.read_bytes() == (tmp_path / "reference.csv").read_bytes()


def test_resume_after_sigkill_gives_the_same_file(cleaned_glove_dir, tmp_path, monkeypatch, capsys):
    """A real kill -9 of predict.py between chunks (it waits for more of its standard input), then --resume."""
    import io
    import signal
    import time

    lines = "".join(text + "\n" for text in MANY_TEXTS[:20]).encode()
    reference = tmp_path / "reference.jsonl"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
    predict.main(["--model_dir", str(cleaned_glove_dir), "--input", "-", "--output", str(reference)])

    output = tmp_path / "out.jsonl"
    command = [sys.executable, "predict.py", "--model_dir", str(cleaned_glove_dir), "--input", "-"]
    command += ["--output", str(output), "--chunk_size", "2"]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process.stdin.write(b"".join(lines.splitlines(keepends=True)[:6]))
    process.stdin.flush()
    progress = Path(str(output) + ".progress")
    deadline = time.monotonic() + 300
    while not (progress.is_file() and json.loads(progress.read_text() or "{}").get("rows") == 6):
        assert process.poll() is None and time.monotonic() < deadline, "predict.py never wrote its first rows"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(output.read_text().splitlines()) == 6

    # the resume runs in this process (a second interpreter start costs 20 s on shared cores), from what the killed
    # process left on disk
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
    predict.main([*command[2:], "--resume"])
    assert output.read_bytes() == reference.read_bytes()
    assert not progress.exists()


def test_rows_without_text_are_named_and_left_unclassified(bert_dir, tmp_path, caplog):
    table = tmp_path / "gaps.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"], "text": [TEXTS[0], "", "   ", TEXTS[1]]}).to_csv(table, index=False)
    output = tmp_path / "out.jsonl"
    with caplog.at_level("WARNING"):
        summary = predict.main(["--model_dir", str(bert_dir), "--input", str(table), "--output", str(output)])
    assert summary["empty_rows"] == [2, 3]
    assert "2 rows have no text (data rows 2, 3)" in caplog.text
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["a", "b", "c", "d"]
    assert [row["label"] is None for row in rows] == [False, True, True, False]
    assert all(row[f"prob_{name}"] is None for row in rows[1:3] for name in LABELS) and rows[1]["score"] is None
    expected = direct_probabilities(bert_dir, [TEXTS[0], TEXTS[1]])
    np.testing.assert_allclose([[rows[i][f"prob_{n}"] for n in LABELS] for i in (0, 3)], expected, atol=1e-5)


def test_outputs_that_cannot_be_written_are_refused_before_the_model_loads(bert_dir, tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(predict.TextClassifier, "from_options", no_model)
    table = write_table(tmp_path / "in.csv", TEXTS)
    base = ["--model_dir", str(bert_dir), "--input", str(table)]
    with pytest.raises(TextclsError, match="is the input file"):
        predict.main([*base, "--output", str(table)])
    assert pd.read_csv(table)["text"].tolist() == TEXTS
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(TextclsError, match="cannot write --output"):
        predict.main([*base, "--output", str(tmp_path / "a_file" / "out.csv")])
    finished = tmp_path / "finished.jsonl"
    finished.write_text("{}\n")
    with pytest.raises(TextclsError, match="has no progress record"):
        predict.main([*base, "--output", str(finished), "--resume"])
    with pytest.raises(TextclsError, match="--resume needs --output"):
        predict.main([*base, "--resume"])


def test_resume_refuses_another_input(cleaned_glove_dir, tmp_path, monkeypatch):
    table = write_table(tmp_path / "in.csv", MANY_TEXTS)
    output = tmp_path / "out.csv"
    monkeypatch.setattr(predict.PredictionWriter, "finish", predict.PredictionWriter.abandon)  # as if killed at the end
    predict.main(["--model_dir", str(cleaned_glove_dir), "--input", str(table), "--output", str(output)])
    monkeypatch.undo()
    other = write_table(tmp_path / "other.csv", TEXTS)
    with pytest.raises(TextclsError, match="was started with other input"):
        predict.main(
            ["--model_dir", str(cleaned_glove_dir), "--input", str(other), *["--output", str(output), "--resume"]]
        )


def test_damaged_folders_are_one_clear_message(bert_dir, tmp_path):
    import shutil

    without_tokenizer = Path(shutil.copytree(bert_dir, tmp_path / "no_tokenizer"))
    (without_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(TextclsError, match="holds no tokenizer.json"):
        predict.main(["--model_dir", str(without_tokenizer), "--text", "x"])
    weights = bert_dir / "model.safetensors"
    for name, keep in (("cut_header", 100), ("cut_tensors", weights.stat().st_size - 100)):
        damaged = Path(shutil.copytree(bert_dir, tmp_path / name))
        (damaged / "model.safetensors").write_bytes(weights.read_bytes()[:keep])
        with pytest.raises(TextclsError, match="model.safetensors is (damaged|truncated)"):
            predict.main(["--model_dir", str(damaged), "--text", "x"])
        with pytest.raises(TextclsError, match="model.safetensors is (damaged|truncated)"):
            demo_app.main(["--model_dir", str(damaged), "--port", str(free_port())])


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_text_column_of_other_values_is_refused_and_csv_numbers_are_text(tmp_path):
    from inference.files import read_chunks

    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"text": "a text"}\n{"text": 12}\n', encoding="utf-8")
    with pytest.raises(TextclsError, match="values that are not text \\(data rows 2"):
        list(read_chunks(str(numbers)))
    table = tmp_path / "numbers.csv"
    table.write_text("text\n12\nwords\n", encoding="utf-8")
    assert [chunk.frame["text"].tolist() for chunk in read_chunks(str(table))] == [["12", "words"]]
