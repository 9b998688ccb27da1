"""The class-separation callback inside real runs: per-evaluation maps, W&B media read back from an offline run,
the standalone projection of a saved model, and runs without wandb."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import run_classification
from tests.test_run_classification import TOPICS, config_for, make_documents, write_splits
from tests.tiny_models import build_tiny_model
from tests.wandb_offline import offline_run
from textcls_errors import TextclsError
from training import wandb_media
from training.class_separation import recorded_training_examples
from training.project_embeddings import main as project_embeddings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 240, 45, 30)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, csv_files):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", texts, num_labels=len(TOPICS))


@pytest.fixture(scope="module")
def measured_run(tmp_path_factory, csv_files, bert_dir):
    """One 3-epoch run that measures separation at every 2nd evaluation: its config, results and folder (shared:
    the standalone projection reads the saved model, which the measurement does not change)."""
    folder = tmp_path_factory.mktemp("measured")
    config = config_for(folder, bert_dir, csv_files, num_train_epochs=3)
    results = run_classification.main([config, "--embedding_eval_every", "2", "--embedding_sample_size", "30"])
    return config, results, folder / "out"


def test_separation_every_evaluation_and_history(measured_run):
    _, results, out = measured_run

    record = json.loads((out / "embedding_separation.json").read_text())
    assert record["documents"] == 30  # the stratified sample, not the whole validation split
    stages = [entry["stage"] for entry in record["history"]]
    assert stages == ["before", "step", "after"], stages  # 3 evaluations, every 2nd one measured
    step = record["history"][1]["step"]
    assert (out / "embeddings_tsne_steps" / f"step-{step:07d}.png").stat().st_size > 10_000
    assert results["embedding_knn_accuracy_after"] == record["embedding_knn_accuracy_after"]
    assert results["embedding_seconds"] > 0

    # the numbers went through Trainer.log, so every reporter got them as a series over steps
    state = json.loads((out / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "embedding/silhouette" in entry]
    assert [entry["step"] for entry in logged] == [entry["step"] for entry in record["history"]]


def test_wandb_offline_run_holds_maps_table_page_and_metrics(tmp_path, csv_files, bert_dir):
    config = config_for(tmp_path, bert_dir, csv_files, num_train_epochs=2, report_to="wandb")
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(tmp_path), WANDB_PROJECT="textcls-test")
    finished = subprocess.run(
        [sys.executable, "run_classification.py", config], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-3000:]

    files, rows = offline_run(tmp_path)
    logged = {key for row in rows for key in row}
    # numbers go through Trainer.log; transformers' WandbCallback files them under train/ (test/ for test_*)
    for key in ("train/embedding/silhouette", "train/embedding/knn_accuracy", "train/embedding/davies_bouldin"):
        assert key in logged, (key, sorted(logged))
    assert "test/accuracy" in logged
    media = {key.removesuffix("/_type"): row[key] for row in rows for key in row if key.endswith("/_type")}
    assert media == {
        "embedding/points_before": "table-file",
        "embedding/tsne_after": "image-file",
        "embedding/points_after": "table-file",
        "embedding/tsne_3d_after": "html-file",
        "test/confusion_matrix_table": "table-file",
    }, media
    assert list((files / "media" / "images" / "embedding").glob("tsne_after*.png")), "no t-SNE image"
    page = next((files / "media" / "html" / "embedding").glob("tsne_3d_after*.html")).read_text()
    assert "plotly" in page and "sport" in page
    table = json.loads(next((files / "media" / "table").glob("embedding/points_after*.table.json")).read_text())
    assert table["columns"] == ["x", "y", "label", "prediction", "correct", "text"]
    assert len(table["data"]) == 45 and {row[2] for row in table["data"]} == set(TOPICS)
    silhouettes = [row["train/embedding/silhouette"] for row in rows if "train/embedding/silhouette" in row]
    assert len(silhouettes) == 2 and silhouettes[1] > silhouettes[0], silhouettes  # before, after


def test_wandb_absent_or_not_requested_changes_nothing(monkeypatch):
    assert not wandb_media.wandb_requested("none")
    assert not wandb_media.wandb_requested(["tensorboard"])
    assert wandb_media.wandb_requested(["all"]) and wandb_media.wandb_requested("wandb")
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb now raises ImportError
    assert wandb_media.active_run() is None


def test_standalone_projection_of_a_saved_model(tmp_path, measured_run):
    config, _, out = measured_run
    assert recorded_training_examples(out) == 240 * 3  # what the run wrote is what the default sample reads
    results = project_embeddings(["--model_dir", str(out), config, "--split", "test", "--no_3d"])
    folder = out / "projection_test"
    assert (folder / "embeddings_tsne.png").stat().st_size > 10_000
    assert not (folder / "embeddings_tsne_3d.html").exists()
    saved = json.loads((folder / "embedding_separation.json").read_text())
    assert saved == results and saved["documents"] == 30 and saved["split"] == "test"
    assert saved["embedding_knn_accuracy"] > 0.8, saved
    # the model's accuracy on that sample agrees with what training measured on the same test split
    assert saved["accuracy"] == pytest.approx(
        json.loads((out / "all_results.json").read_text())["test_accuracy"], abs=1e-6
    )

    # a corpus with other class names is refused, naming both sets
    other = tmp_path / "other.csv"
    frame = make_documents(30, 3)
    frame["topic"] = frame["topic"].replace({"food": "cooking"})
    frame.to_csv(other, index=False)
    with pytest.raises(TextclsError, match="trained for the classes.*cooking"):
        relabelled = [f"--{split}_file={other}" for split in ("train", "validation", "test")]
        project_embeddings(["--model_dir", str(out), config, *relabelled])


def test_a_sample_too_small_to_measure_stops_before_training(tmp_path, csv_files, bert_dir):
    config = config_for(tmp_path, bert_dir, csv_files, embedding_sample_size=3)  # 3 documents, 3 classes
    with pytest.raises(TextclsError, match="embedding_projection false"):
        run_classification.main([config])
    assert not list(tmp_path.glob("out/checkpoint-*"))  # nothing trained
