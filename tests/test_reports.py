"""The files written after the test split is predicted: reports, predictions.csv and the two figures."""

import json

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from textcls_errors import TextclsError
from training import reports
from training.reports import (
    plot_confusion_matrix,
    plot_training_curves,
    training_curves,
    write_classification_report,
    write_predictions,
)

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
NEWSGROUPS = [
    "alt.atheism",
    "comp.graphics",
    "comp.os.ms-windows.misc",
    "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware",
    "comp.windows.x",
    "misc.forsale",
    "rec.autos",
    "rec.motorcycles",
    "rec.sport.baseball",
    "rec.sport.hockey",
    "sci.crypt",
    "sci.electronics",
    "sci.med",
    "sci.space",
    "soc.religion.christian",
    "talk.politics.guns",
    "talk.politics.mideast",
    "talk.politics.misc",
    "talk.religion.misc",
]


def noisy_predictions(n_classes: int, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gold labels and predictions that are right about 70% of the time."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, n_classes, n))
    return y_true, y_pred


def trainer_log_history(epochs: int = 3, logs_per_epoch: int = 2) -> list[dict]:
    """The shape of `trainer.state.log_history` after train() with eval_strategy="epoch", then evaluate()."""
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        for k in range(1, logs_per_epoch + 1):
            step += 10
            loss = 1.4 / (step / 10) ** 0.5
            history.append(
                {
                    "loss": loss,
                    "grad_norm": 2.1,
                    "learning_rate": 4e-5,
                    "epoch": epoch - 1 + k / logs_per_epoch,
                    "step": step,
                }
            )
        history.append(
            {
                "eval_loss": 1.0 / epoch,
                "eval_accuracy": 0.6 + 0.1 * epoch,
                "eval_macro_precision": 0.6,
                "eval_macro_recall": 0.6,
                "eval_macro_f1": 0.55 + 0.1 * epoch,
                "eval_runtime": 0.5,
                "eval_samples_per_second": 800.0,
                "eval_steps_per_second": 25.0,
                "epoch": float(epoch),
                "step": step,
            }
        )
    history.append(
        {
            "train_runtime": 12.3,
            "train_samples_per_second": 97.5,
            "train_steps_per_second": 4.9,
            "total_flos": 1234.0,
            "train_loss": 0.8,
            "epoch": float(epochs),
            "step": step,
        }
    )
    return history


def image_size(path) -> tuple[int, int]:
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_classification_report_is_keyed_by_class_name_including_absent_classes(tmp_path):
    y_true = [0, 0, 1, 1, 3]  # Business (2) never occurs
    y_pred = [0, 1, 1, 1, 3]
    json_path, txt_path = write_classification_report(tmp_path / "out", y_true, y_pred, LABELS)
    assert json_path == tmp_path / "out" / "classification_report.json"
    assert txt_path == tmp_path / "out" / "classification_report.txt"

    report = json.loads(json_path.read_text())
    assert set(report) == set(LABELS) | {"accuracy", "macro avg", "weighted avg"}
    assert report["Business"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    assert report["World"]["precision"] == pytest.approx(1.0)
    assert report["World"]["recall"] == pytest.approx(0.5)
    assert report["Sports"]["precision"] == pytest.approx(2 / 3)
    assert report["Sports"]["support"] == 2
    assert report["accuracy"] == pytest.approx(4 / 5)

    text = txt_path.read_text()
    assert all(name in text for name in LABELS)
    assert "0.6667" in text  # digits=4


def test_reports_reject_class_ids_outside_label_names(tmp_path):
    with pytest.raises(TextclsError, match=r"y_true holds class id -1, outside 0\.\.3"):
        write_classification_report(tmp_path, [0, -1], [0, 1], LABELS)
    with pytest.raises(TextclsError, match="y_pred has 1 entries, expected 2"):
        plot_confusion_matrix(tmp_path / "cm.png", [0, 1], [0], LABELS)


def test_predictions_csv_round_trips(tmp_path):
    texts = ['He said "hi", then left.', "line one\nline two, with a comma", "plain", "tab\there; 'quotes'"]
    y_true = [0, 1, 2, 3]
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(len(LABELS)), size=len(texts))
    path = write_predictions(tmp_path / "predictions.csv", texts, y_true, probabilities, LABELS)

    frame = pd.read_csv(path)
    assert list(frame.columns) == ["text", "gold", "predicted"] + [f"prob_{name}" for name in LABELS]
    assert frame["text"].tolist() == texts
    assert frame["gold"].tolist() == LABELS
    probs = frame[[f"prob_{name}" for name in LABELS]].to_numpy()
    np.testing.assert_allclose(probs, probabilities, atol=1e-6)  # rounded to 6 decimals
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert frame["predicted"].tolist() == [LABELS[i] for i in probs.argmax(axis=1)]


def test_predictions_without_gold_labels_leave_gold_empty(tmp_path):
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    path = write_predictions(tmp_path / "predictions.csv", ["a", "b"], None, probabilities, ["neg", "pos"])
    frame = pd.read_csv(path, keep_default_na=False)
    assert frame["gold"].tolist() == ["", ""]
    assert frame["predicted"].tolist() == ["neg", "pos"]


def test_predictions_reject_probabilities_of_the_wrong_width(tmp_path):
    with pytest.raises(TextclsError, match=r"probabilities must have shape \(n_texts, n_classes\)"):
        write_predictions(tmp_path / "p.csv", ["a"], [0], np.array([[0.5, 0.5]]), LABELS)


def test_confusion_matrix_png_grows_with_the_number_of_classes(tmp_path):
    small = plot_confusion_matrix(tmp_path / "small.png", *noisy_predictions(4), LABELS)
    large = plot_confusion_matrix(tmp_path / "large.png", *noisy_predictions(20), NEWSGROUPS)
    assert small.stat().st_size > 10_000
    small_width, small_height = image_size(small)
    large_width, large_height = image_size(large)
    assert large_width > 1.5 * small_width
    assert large_height > 1.5 * small_height


def drawn_figures(monkeypatch) -> list:
    """The matplotlib figures the report functions save, caught on their way to disk."""
    figures, save = [], reports._save
    monkeypatch.setattr(reports, "_save", lambda fig, path: figures.append(fig) or save(fig, path))
    return figures


def test_confusion_matrix_handles_a_class_missing_from_the_sample(tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch)
    path = plot_confusion_matrix(tmp_path / "nested" / "cm.png", [0, 0, 1], [0, 1, 1], LABELS)
    assert path.exists()
    ax = figures[0].axes[0]
    matrix = np.asarray(ax.images[0].get_array())
    # every class has a row and a column; Business and Sci/Tech never occur, so their rows stay zero
    np.testing.assert_allclose(matrix, [[0.5, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert [label.get_text() for label in ax.get_yticklabels()] == LABELS
    assert [text.get_text() for text in ax.texts] == ["0.50", "0.50", "", "", "", "1.00"] + [""] * 10


def test_training_curves_from_a_trainer_history(tmp_path):
    history = trainer_log_history()
    # The final trainer.evaluate() logs once more at the last epoch.
    history.append({**history[-2], "eval_accuracy": 0.99, "eval_runtime": 0.4})
    panels = training_curves(history)
    assert panels["Loss"]["training loss"][:2] == [
        (0.5, pytest.approx(1.4)),
        (1.0, pytest.approx(1.4 / 2**0.5)),
    ]
    assert len(panels["Loss"]["training loss"]) == 6  # train_loss in the final summary is not a point
    assert panels["Loss"]["eval loss"] == [(1.0, 1.0), (2.0, 0.5), (3.0, pytest.approx(1 / 3))]
    assert [value for _, value in panels["Evaluation"]["eval accuracy"]] == pytest.approx([0.7, 0.8, 0.9])
    assert [epoch for epoch, _ in panels["Evaluation"]["eval macro-F1"]] == [1.0, 2.0, 3.0]

    path = plot_training_curves(tmp_path / "training_curves.png", history)
    assert path == tmp_path / "training_curves.png"
    width, height = image_size(path)
    assert width > 1.5 * height  # two panels side by side


def test_training_curves_with_a_single_evaluation(tmp_path, monkeypatch):
    history = trainer_log_history(epochs=1, logs_per_epoch=1)
    assert training_curves(history) == {
        "Loss": {"training loss": [(1.0, pytest.approx(1.4))], "eval loss": [(1.0, 1.0)]},
        "Evaluation": {"eval accuracy": [(1.0, pytest.approx(0.7))], "eval macro-F1": [(1.0, pytest.approx(0.65))]},
    }
    figures = drawn_figures(monkeypatch)
    path = plot_training_curves(tmp_path / "curves.png", history)
    assert path.stat().st_size > 5_000
    for ax in figures[0].axes:
        # a lone point has no line to show it: each is drawn as a marker, inside the axis (which starts at 0)
        assert len(ax.lines) == 2 and all(line.get_marker() == "o" for line in ax.lines)
        left, right = ax.get_xlim()
        assert left == 0 and right > 1.0


def test_training_curves_without_evaluation_plot_the_loss_alone(tmp_path):
    history = [entry for entry in trainer_log_history() if "eval_loss" not in entry]
    assert list(training_curves(history)) == ["Loss"]
    assert list(training_curves(history)["Loss"]) == ["training loss"]
    path = plot_training_curves(tmp_path / "curves.png", history)
    width, height = image_size(path)
    assert width < 1.5 * height  # one panel


def test_training_curves_with_nothing_to_plot_write_nothing(tmp_path):
    assert plot_training_curves(tmp_path / "curves.png", [{"train_runtime": 1.0, "epoch": 1.0, "step": 1}]) is None
    assert plot_training_curves(tmp_path / "curves.png", []) is None
    assert not (tmp_path / "curves.png").exists()


def test_predictions_csv_is_written_in_chunks_with_the_bytes_of_one_frame(tmp_path, monkeypatch):
    """Texts come from a Dataset through Arrow in chunks (never all in memory); the file is the one a single pandas
    frame of every row gives."""
    from datasets import Dataset

    from data_scripts.splits import TextColumn

    texts = ['He said "hi", then left.', "line one\nline two, with a comma", "", "tab\there", "5", "last"] * 2
    pairs = [f"pair {i}, b" for i in range(len(texts))]
    rows = Dataset.from_dict({"text": ["dropped", *texts], "text_pair": ["x", *pairs]}).select(range(1, 13))
    rng = np.random.default_rng(2)
    probabilities = rng.dirichlet(np.ones(len(LABELS)), size=len(texts))
    gold = rng.integers(0, len(LABELS), size=len(texts))
    whole = pd.DataFrame({"text": texts, "text_pair": pairs, "gold": np.asarray(LABELS, dtype=object)[gold]})
    whole["predicted"] = np.asarray(LABELS, dtype=object)[probabilities.argmax(axis=1)]
    for i, name in enumerate(LABELS):
        whole[f"prob_{name}"] = probabilities[:, i].round(6)
    whole.to_csv(tmp_path / "whole.csv", index=False, encoding="utf-8")

    monkeypatch.setattr(reports, "CSV_CHUNK_ROWS", 5)
    columns = TextColumn(rows, "text"), TextColumn(rows, "text_pair")
    path = write_predictions(tmp_path / "p.csv", columns[0], gold, probabilities, LABELS, columns[1])
    assert path.read_bytes() == (tmp_path / "whole.csv").read_bytes()

    decisions = probabilities > 0.3
    for name, write in {
        "multi": lambda: reports.write_multi_label_predictions(
            tmp_path / "multi.csv", columns[0], decisions[::-1], probabilities, decisions, LABELS
        ),
        "regression": lambda: reports.write_regression_predictions(
            tmp_path / "regression.csv", columns[0], None, probabilities[:, 0], columns[1]
        ),
    }.items():
        chunked = write().read_bytes()
        monkeypatch.setattr(reports, "CSV_CHUNK_ROWS", 10_000)
        assert chunked == write().read_bytes(), name
        monkeypatch.setattr(reports, "CSV_CHUNK_ROWS", 5)
    assert TextColumn(rows)[-1] == "last" and TextColumn(rows)[1:12:5] == [texts[1], texts[6], texts[11]]
