"""The problem-type module: what the config records, activation, decision and the one loss of every family."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.nn import functional
from transformers import AutoModelForSequenceClassification, BertConfig, TrainingArguments

from modeling import GloveConfig, GloveForSequenceClassification, problem_types
from modeling.classifier_heads import classifier_config
from modeling.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from training.trainer import ClassificationTrainer

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.1, 3.0], [0.0, 0.0, 0.0], [1.0, 2.0, -2.0]])


def config_for(problem_type, names=("a", "b", "c"), **fields):
    return BertConfig(**problem_types.config_fields(problem_type, names, **fields))


def test_config_fields_record_the_problem_for_every_type():
    single = problem_types.config_fields(SINGLE_LABEL, ["neg", "pos"], class_weights=[1.0, 3.0])
    assert single["id2label"] == {0: "neg", 1: "pos"} and single["class_weights"] == [1.0, 3.0]
    assert "decision_thresholds" not in single and single["text_pair"] is False
    multi = problem_types.config_fields(MULTI_LABEL, ["joy", "anger", "fear"], text_pair=True)
    assert "decision_thresholds" not in multi and multi["text_pair"] is True
    assert problem_types.decision_thresholds(BertConfig(**multi)).tolist() == [0.5, 0.5, 0.5]
    regression = BertConfig(**problem_types.config_fields(REGRESSION, ["score"]))
    assert regression.num_labels == 1 and problem_types.problem_type_of(regression) == REGRESSION
    with pytest.raises(ValueError, match="regression model has none"):
        problem_types.config_fields(REGRESSION, ["score"], class_weights=[2.0])
    with pytest.raises(ValueError, match="one output"):
        problem_types.config_fields(REGRESSION, ["a", "b"])
    with pytest.raises(ValueError, match="problem_type must be one of"):
        problem_types.config_fields("multilabel", ["a", "b"])
    with pytest.raises(ValueError, match=r"numbers in \(0, 1\)"):
        problem_types.config_fields(MULTI_LABEL, ["a", "b"], decision_thresholds=[0.5, 1.5])


def test_a_config_from_before_problem_types_reads_as_transformers_would():
    assert problem_types.problem_type_of(BertConfig(num_labels=4)) == SINGLE_LABEL
    assert problem_types.problem_type_of(BertConfig(num_labels=1)) == REGRESSION
    assert problem_types.decision_thresholds(BertConfig(num_labels=3)).tolist() == [0.5, 0.5, 0.5]
    assert not problem_types.reads_text_pairs(BertConfig())


def test_activation_and_decision_per_problem_type():
    single = config_for(SINGLE_LABEL)
    probabilities = problem_types.output_scores(single, LOGITS)
    np.testing.assert_allclose(probabilities, torch.softmax(LOGITS.double(), -1).numpy())
    assert problem_types.predict(single, LOGITS).tolist() == [0, 2, 0, 1]
    assert problem_types.decision_names(single, [0, 2]) == ["a", "c"]

    multi = config_for(MULTI_LABEL, decision_thresholds=[0.5, 0.6, 0.9])
    scores = problem_types.output_scores(multi, LOGITS)
    np.testing.assert_allclose(scores, torch.sigmoid(LOGITS.double()).numpy())
    decisions = problem_types.decide(multi, scores)
    # 0.5 >= 0.5 counts; sigmoid(0.5)=0.62 is under label c's 0.9; sigmoid(0.1)=0.52 under b's 0.6
    assert decisions.tolist() == [[1, 0, 0], [0, 0, 1], [1, 0, 0], [1, 1, 0]]
    assert problem_types.decision_names(multi, decisions) == [["a"], ["c"], ["a"], ["a", "b"]]
    problem_types.set_decision_thresholds(multi, [0.9, 0.9, 0.9])
    assert problem_types.predict(multi, LOGITS).sum() == 1  # only sigmoid(3.0) = 0.95 passes

    regression = config_for(REGRESSION, names=["score"])
    values = problem_types.predict(regression, torch.tensor([[1.5], [-0.25]]))
    assert values.shape == (2,) and values.tolist() == [1.5, -0.25]
    with pytest.raises(ValueError, match="multi-label"):
        problem_types.set_decision_thresholds(regression, [0.5])


def test_the_loss_is_torchs_with_the_configs_weights_and_the_runs_smoothing():
    labels = torch.tensor([0, 2, 1, 1])
    weighted = config_for(SINGLE_LABEL, class_weights=[1.0, 2.0, 0.5])
    expected = functional.cross_entropy(LOGITS, labels, weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1)
    torch.testing.assert_close(problem_types.compute_loss(weighted, LOGITS, labels, 0.1), expected)

    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    multi = config_for(MULTI_LABEL, class_weights=[3.0, 1.0, 2.0])
    expected = functional.binary_cross_entropy_with_logits(LOGITS, targets, pos_weight=torch.tensor([3.0, 1.0, 2.0]))
    torch.testing.assert_close(problem_types.compute_loss(multi, LOGITS, targets), expected)
    pos_weight = torch.tensor([3.0, 1.0, 2.0])
    smoothed = functional.binary_cross_entropy_with_logits(LOGITS, targets * 0.8 + 0.1, pos_weight=pos_weight)
    torch.testing.assert_close(problem_types.compute_loss(multi, LOGITS, targets, 0.2), smoothed)

    regression = config_for(REGRESSION, names=["score"])
    values = torch.tensor([1.0, 2.0, 0.0, 3.0])
    torch.testing.assert_close(
        problem_types.compute_loss(regression, LOGITS[:, :1], values), functional.mse_loss(LOGITS[:, 0], values)
    )


def test_the_loss_over_a_whole_set_is_the_batch_loss_of_all_rows():
    """What the several-process evaluation reports equals the loss of one batch holding every row."""
    config = config_for(SINGLE_LABEL, class_weights=[1.0, 2.0, 0.5])
    labels = np.array([0, 2, 1, 1])
    expected = float(problem_types.compute_loss(config, LOGITS.double(), torch.tensor(labels)))
    assert problem_types.mean_loss(config, LOGITS.numpy(), labels) == pytest.approx(expected)
    multi = config_for(MULTI_LABEL)
    targets = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0]], dtype=np.float32)
    expected = functional.binary_cross_entropy_with_logits(LOGITS.double(), torch.tensor(targets).double())
    assert problem_types.mean_loss(multi, LOGITS.numpy(), targets) == pytest.approx(float(expected))


def counted(labels: np.ndarray, num_labels: int):
    """count_labels for resolve_class_weights: per-class (or per-label) row counts and the number of rows."""
    if labels.ndim == 1:
        return lambda: (np.bincount(labels, minlength=num_labels), len(labels))
    return lambda: (labels.sum(axis=0), len(labels))


def test_class_weights_balanced_named_and_refused():
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    balanced = problem_types.resolve_class_weights("balanced", SINGLE_LABEL, ["a", "b", "c"], counted(labels, 3))
    np.testing.assert_allclose(balanced, compute_class_weight("balanced", classes=np.arange(3), y=labels))

    def never():
        raise AssertionError("only 'balanced' needs the training labels")

    named = problem_types.resolve_class_weights({"c": 4}, SINGLE_LABEL, ["a", "b", "c"], never)
    assert named == [1.0, 1.0, 4.0]
    assert problem_types.resolve_class_weights("none", SINGLE_LABEL, ["a", "b", "c"], never) is None
    assert problem_types.resolve_class_weights(None, SINGLE_LABEL, ["a", "b", "c"], never) is None

    multi_hot = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
    # pos_weight = negatives / positives per label
    assert problem_types.resolve_class_weights("balanced", MULTI_LABEL, ["x", "y"], counted(multi_hot, 2)) == [
        1 / 3,
        1.0,
    ]

    with pytest.raises(ValueError, match="regression run has no classes"):
        problem_types.resolve_class_weights("balanced", REGRESSION, ["score"], never)
    with pytest.raises(ValueError, match=r"\['d'\], which are not labels"):
        problem_types.resolve_class_weights({"d": 2.0}, SINGLE_LABEL, ["a", "b", "c"], never)
    with pytest.raises(ValueError, match="expected a positive number"):
        problem_types.resolve_class_weights({"a": -1}, SINGLE_LABEL, ["a", "b", "c"], never)
    with pytest.raises(ValueError, match="on every training row or on none"):
        problem_types.resolve_class_weights("balanced", MULTI_LABEL, ["x", "y"], counted(np.array([[1, 0], [1, 0]]), 2))
    with pytest.raises(ValueError, match="have no training example"):
        problem_types.resolve_class_weights("balanced", SINGLE_LABEL, ["a", "b", "c"], counted(np.array([0, 1]), 3))
    with pytest.raises(ValueError, match="smooths class targets"):
        problem_types.check_label_smoothing(REGRESSION, 0.1)


def test_word_models_score_with_the_same_loss_and_their_folder_carries_it(tmp_path):
    fields = problem_types.config_fields(MULTI_LABEL, ["x", "y", "z"], class_weights=[2.0, 1.0, 1.0])
    config = GloveConfig(vocab_size=8, embedding_dim=4, dropout=0.0, **fields)
    model = GloveForSequenceClassification(config).eval()
    input_ids = torch.tensor([[2, 3, 4], [5, 6, 0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    outputs = model(input_ids, labels=targets)
    torch.testing.assert_close(outputs.loss, problem_types.compute_loss(config, outputs.logits, targets))

    model.save_pretrained(tmp_path)
    assert (tmp_path / "problem_types.py").is_file()  # copied as the modeling file's relative import
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["problem_type"] == MULTI_LABEL and "decision_thresholds" not in saved
    assert saved["class_weights"] == [2.0, 1.0, 1.0]
    # Loaded without this project on the path: the folder's own copies of the code are enough.
    script = (
        "import sys, torch; from transformers import AutoModelForSequenceClassification as A; "
        f"m = A.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval(); "
        "t = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]); "
        "print(float(m(torch.tensor([[2, 3, 4], [5, 6, 0]]), labels=t).loss))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=isolated_env(tmp_path)
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.split()[-1]) == pytest.approx(outputs.loss.item(), rel=1e-5)


def isolated_env(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return env | {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}


def test_fields_survive_a_transformers_config_and_its_save(tmp_path):
    """from_pretrained drops keyword arguments a BertConfig does not declare; apply_fields sets them."""
    BertConfig(num_labels=2).save_pretrained(tmp_path)
    fields = problem_types.config_fields(MULTI_LABEL, ["x", "y"], class_weights=[2.0, 1.0], text_pair=True)
    dropped = BertConfig.from_pretrained(tmp_path, **fields)
    assert getattr(dropped, "class_weights", None) is None  # why apply_fields exists
    config = problem_types.apply_fields(BertConfig.from_pretrained(tmp_path), fields)
    problem_types.set_decision_thresholds(config, [0.3, 0.7])
    config.save_pretrained(tmp_path)
    saved = BertConfig.from_pretrained(tmp_path)
    assert problem_types.fields_of(saved) == {**fields, "decision_thresholds": [0.3, 0.7]} | {
        "id2label": {0: "x", 1: "y"}
    }
    assert saved.num_labels == 2 and problem_types.reads_text_pairs(saved)


def test_the_trainer_gives_class_weights_to_a_transformer_too(tmp_path):
    """BERT's own loss knows no class weights; the Trainer computes every family's loss through problem_types."""
    config = BertConfig(
        vocab_size=20,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        **problem_types.config_fields(SINGLE_LABEL, ["a", "b", "c"], class_weights=[1.0, 5.0, 0.2]),
    )
    model = AutoModelForSequenceClassification.from_config(config).eval()
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, label_smoothing_factor=0.1)
    trainer = ClassificationTrainer(model=model, args=args)
    inputs = {"input_ids": torch.tensor([[1, 2, 3], [4, 5, 6]]), "labels": torch.tensor([1, 2])}
    loss, outputs = trainer.compute_loss(model, inputs, return_outputs=True)
    expected = functional.cross_entropy(
        outputs.logits, inputs["labels"], weight=torch.tensor([1.0, 5.0, 0.2]), label_smoothing=0.1
    )
    torch.testing.assert_close(loss, expected)
    assert not torch.allclose(loss, model(**inputs).loss)  # BERT's own, unweighted loss differs


def test_an_mlp_head_keeps_the_problem_of_its_backbone_config():
    fields = problem_types.config_fields(REGRESSION, ["score"], text_pair=True)
    backbone = problem_types.apply_fields(BertConfig(hidden_size=8, num_attention_heads=2), fields)
    mlp = classifier_config(backbone, "mlp", [4], 0.1)
    assert mlp.model_type == "textcls-transformer-mlp"
    assert problem_types.fields_of(mlp) == problem_types.fields_of(backbone) and mlp.num_labels == 1
