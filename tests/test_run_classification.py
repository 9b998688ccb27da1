"""End to end: the script trains tiny models on data made here, writes every output, resumes, and
turns bad input into one clear message; plus one short MiniLM run on the real 20 Newsgroups."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import run_classification
from tests.tiny_models import FAMILIES, build_tiny_model

REPO = Path(__file__).resolve().parent.parent
TOPICS = {
    "space": "rocket orbit launch nasa moon shuttle astronaut",
    "sport": "goal match team score league coach season",
    "food": "recipe bake flour oven sugar butter dinner",
}


def make_documents(count: int, seed: int) -> pd.DataFrame:
    """Short documents whose topic words give the class away, of varied lengths."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        label = list(TOPICS)[i % len(TOPICS)]
        words = rng.choice(TOPICS[label].split(), size=rng.integers(3, 30)).tolist()
        filler = rng.choice(["the", "a", "of", "and", "today", "news"], size=rng.integers(0, 10)).tolist()
        rows.append({"headline": f"Story {i}", "body": " ".join(words + filler), "topic": label})
    return pd.DataFrame(rows)


def write_splits(folder: Path, train: int, validation: int, test: int) -> dict[str, Path]:
    """train.csv, validation.csv and test.csv of made-up documents (seeds 0, 1, 2) in `folder`."""
    paths = {}
    for seed, (split, count) in enumerate((("train", train), ("validation", validation), ("test", test))):
        paths[split] = folder / f"{split}.csv"
        make_documents(count, seed).to_csv(paths[split], index=False)
    return paths


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 300, 30, 45)


@pytest.fixture(scope="module")
def tiny_model_dirs(tmp_path_factory, csv_files):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    return {
        family: build_tiny_model(tmp_path_factory.mktemp(family), family, texts, num_labels=len(TOPICS))
        for family in FAMILIES
    }


def config_for(tmp_path, model_dir, csv_files, **overrides) -> str:
    settings = {
        "model_name_or_path": str(model_dir),
        "train_file": str(csv_files["train"]),
        "validation_file": str(csv_files["validation"]),
        "test_file": str(csv_files["test"]),
        "text_columns": ["headline", "body"],
        "label_column": "topic",
        "output_dir": str(tmp_path / "out"),
        "max_seq_length": 32,
        "learning_rate": 5e-3,
        "per_device_train_batch_size": 8,
        "num_train_epochs": 5,
        "warmup_steps": 0,
        "logging_steps": 5,
        "report_to": "none",
        "seed": 7,
    }
    settings.update(overrides)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    return str(path)


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_model_trains_and_writes_every_output(family, tmp_path, csv_files, tiny_model_dirs):
    results = run_classification.main([config_for(tmp_path, tiny_model_dirs[family], csv_files)])
    out = tmp_path / "out"

    saved = json.loads((out / "all_results.json").read_text())
    for key in (
        "eval_accuracy",
        "eval_macro_f1",
        "test_accuracy",
        "test_macro_f1",
        "test_weighted_f1",
        "train_runtime",
        "train_samples_per_second",
    ):
        assert key in saved, key
    assert saved["test_accuracy"] == results["test_accuracy"]
    assert saved["test_accuracy"] > 0.8, saved  # chance is 1/3; the topic words give the class away

    report = json.loads((out / "classification_report.json").read_text())
    assert {"food", "space", "sport"} <= set(report)
    assert "food" in (out / "classification_report.txt").read_text()
    for figure in ("confusion_matrix.png", "training_curves.png", "embeddings_tsne.png"):
        assert (out / figure).stat().st_size > 10_000, figure
    assert "sport" in (out / "embeddings_tsne_3d.html").read_text()
    # training pulled the classes apart in the model's own document embedding
    assert saved["embedding_silhouette_after"] > saved["embedding_silhouette_before"], saved
    assert saved["embedding_knn_accuracy_after"] > 0.8, saved

    # the model card is written by every run, pushed or not (its content: tests/test_model_card.py)
    card = (out / "README.md").read_text()
    assert f"| test | {saved['test_accuracy']:.4f} | {saved['test_macro_f1']:.4f} |" in card
    assert "(embeddings_tsne.png)" in card

    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "food", "1": "space", "2": "sport"}
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()


def test_predictions_line_up_with_their_rows(tmp_path, csv_files, tiny_model_dirs):
    """Length-grouped batching reorders rows; predictions.csv must still describe each row."""
    run_classification.main([config_for(tmp_path, tiny_model_dirs["bert"], csv_files, num_train_epochs=2)])
    out = tmp_path / "out"
    predictions = pd.read_csv(out / "predictions.csv")
    test = pd.read_csv(csv_files["test"])
    assert predictions["text"].tolist() == (test["headline"] + "\n" + test["body"]).tolist()
    assert predictions["gold"].tolist() == test["topic"].tolist()

    # Recompute each row alone with the saved model: same probabilities, same order.
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        inputs = tokenizer(
            predictions["text"].tolist(), truncation=True, max_length=32, padding=True, return_tensors="pt"
        )
        expected = torch.softmax(model(**inputs).logits, dim=-1).numpy()
    columns = [f"prob_{name}" for name in ("food", "space", "sport")]
    np.testing.assert_allclose(predictions[columns].to_numpy(), expected, atol=1e-4)


def test_command_line_overrides_json_and_training_resumes(tmp_path, csv_files, tiny_model_dirs, caplog):
    config = config_for(tmp_path, tiny_model_dirs["distilbert"], csv_files, num_train_epochs=5)
    run_classification.main([config, "--num_train_epochs", "1", "--do_predict", "false"])
    out = tmp_path / "out"
    first = json.loads((out / "trainer_state.json").read_text())
    assert first["epoch"] == 1.0  # the flag beat the JSON's 5 epochs
    assert not (out / "predictions.csv").exists()

    caplog.set_level("INFO")
    checkpoint = str(next(out.glob("checkpoint-*")))  # other settings continue a run only when it is named
    run_classification.main(
        [config, "--num_train_epochs", "2", "--do_predict", "false", "--resume_from_checkpoint", checkpoint]
    )
    assert f"Resuming from {checkpoint} as asked" in caplog.text and "num_train_epochs: 1.0 -> 2.0" in caplog.text
    second = json.loads((out / "trainer_state.json").read_text())
    assert second["epoch"] == 2.0
    assert second["global_step"] == 2 * first["global_step"]
    # the first epoch's logs came back from the checkpoint instead of being trained again
    first_epoch_losses = [entry["loss"] for entry in first["log_history"] if "loss" in entry]
    assert [entry["loss"] for entry in second["log_history"] if "loss" in entry][: len(first_epoch_losses)] == (
        first_epoch_losses
    )


def test_runs_under_accelerate_launch(tmp_path, csv_files, tiny_model_dirs):
    """The README's `accelerate launch run_classification.py CONFIG` works as it is written (one CPU process)."""
    config = config_for(tmp_path, tiny_model_dirs["bert"], csv_files, num_train_epochs=1)
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu"]
        + [str(REPO / "run_classification.py"), config],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "process rank 0 of 1" in launched.stdout
    results = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert {"eval_accuracy", "test_accuracy"} <= set(results)


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "run_classification.py"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def write_csv(path: Path, text_column: str = "text", **columns) -> str:
    pd.DataFrame(columns).to_csv(path, index=False)
    return str(path)


BAD_INPUTS = {
    "unknown key": (
        lambda tmp: [config_for(tmp, "m", {"train": "t", "validation": "v", "test": "x"}, lr=1)],
        "unknown setting(s) in the config: lr",
    ),
    "missing file": (
        lambda tmp: [
            "--model_name_or_path",
            "m",
            "--output_dir",
            str(tmp / "o"),
            "--train_file",
            str(tmp / "absent.csv"),
        ],
        "absent.csv",
    ),
    "missing column": (
        lambda tmp: [
            "--model_name_or_path",
            "m",
            "--output_dir",
            str(tmp / "o"),
            "--train_file",
            write_csv(tmp / "t.csv", body=["x", "y"], label=["a", "b"]),
        ],
        "has no column(s) ['text']; its columns are ['body', 'label']",  # the missing one named, and those there
    ),
    "empty text": (
        lambda tmp: [
            "--model_name_or_path",
            "m",
            "--output_dir",
            str(tmp / "o"),
            "--train_file",
            write_csv(tmp / "t.csv", text=["fine", "  ", "ok"], label=["a", "b", "a"]),
        ],
        "empty",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_message(case, tmp_path):
    make_args, expected = BAD_INPUTS[case]
    result = run_script(*make_args(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # progress bars may come first; the message itself starts a line with "error:"
    message = result.stderr[result.stderr.index("\nerror:") + 1 :] if "\nerror:" in result.stderr else result.stderr
    assert message.startswith("error:") and expected in message, result.stderr


def test_label_not_in_training_set_and_non_utf8_file(tmp_path):
    train = write_csv(tmp_path / "train.csv", text=["a b", "c d"], label=["x", "y"])
    test = write_csv(tmp_path / "test.csv", text=["e f"], label=["z"])
    result = run_script(
        "--model_name_or_path",
        "m",
        "--output_dir",
        str(tmp_path / "o"),
        "--train_file",
        train,
        "--test_file",
        test,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = result.stderr.split("error:")[1]
    assert f"test_file={test!r} has label(s) ['z'] that train_file={train!r} never uses" in message
    assert "the known labels are ['x', 'y']" in message

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\ncaf\xe9 au lait,a\nth\xe9,b\n".encode("latin-1"))
    result = run_script("--model_name_or_path", "m", "--output_dir", str(tmp_path / "o"), "--train_file", str(latin1))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "UTF-8" in result.stderr or "utf-8" in result.stderr


@pytest.mark.integration
def test_minilm_learns_real_20newsgroups(tmp_path, data_dir):
    """A short real run: MiniLM (the packaged hub copy) on four 20NG groups gets far above chance (25 %)."""
    results = run_classification.main(
        [
            str(REPO / "configs" / "minilm_20ng.json"),
            "--data_dir",
            str(data_dir / "20newsgroups"),
            "--output_dir",
            str(tmp_path / "out"),
            "--categories",
            "alt.atheism",
            "comp.graphics",
            "sci.space",
            "rec.sport.hockey",
            "--max_train_samples",
            "400",
            "--max_eval_samples",
            "100",
            "--max_predict_samples",
            "200",
            "--max_seq_length",
            "128",
            "--num_train_epochs",
            "2",
            "--early_stopping_patience",
            "0",
            "--report_to",
            "none",
        ]
    )
    assert results["test_accuracy"] > 0.7, results
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["id2label"]["3"] == "sci.space"
