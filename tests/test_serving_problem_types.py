"""Serving multi-label, regression and pair models: predict.py, explanations, the demo API and --errors, on tiny
models whose config.json records the problem type as run_classification.py does (problem_types.config_fields)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

import explain
import export_onnx
import predict
from inference import TextClassifier
from inference.attributions import METHODS, attribute, attribute_predicted, differentiable_scores
from inference.explanation_html import attributions_html
from inference.onnx_export import decisions_changed
from inference.outputs import outputs_from_logits, prediction_columns
from modeling import problem_types
from tests.tiny_models import build_tiny_model, build_tiny_word_model
from textcls_errors import TextclsError

EMOTIONS = ["anger", "joy", "sadness"]
TEXTS = [
    "I am so happy today, what a joy!",
    "This makes me furious and sad.",
    "A calm day at the lake.",
    "Why would they do that to us?",
]
SECOND = ["A happy day.", "Nothing at all.", "The lake was calm.", "They did it."]
# Thresholds that make the decisions of a random tiny model known without knowing its outputs: anger is always
# predicted (every sigmoid is > 0.001), sadness never (< 0.999), joy from its own threshold.
THRESHOLDS = [0.001, 0.5, 0.999]


@pytest.fixture(scope="module")
def multi_label_dir(tmp_path_factory):
    torch.manual_seed(0)
    problem = {"problem_type": problem_types.MULTI_LABEL, "decision_thresholds": THRESHOLDS}
    return build_tiny_model(tmp_path_factory.mktemp("multi"), "bert", TEXTS * 10, label_names=EMOTIONS, problem=problem)


@pytest.fixture(scope="module")
def regression_dir(tmp_path_factory):
    torch.manual_seed(0)
    problem = {"problem_type": problem_types.REGRESSION}
    return build_tiny_word_model(tmp_path_factory.mktemp("glove_reg"), "glove", TEXTS, ["score"], problem=problem)


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    torch.manual_seed(0)
    problem = {"problem_type": problem_types.REGRESSION, "text_pair": True}
    return build_tiny_model(
        tmp_path_factory.mktemp("pair"), "bert", (TEXTS + SECOND) * 10, label_names=["similarity"], problem=problem
    )


def direct_logits(folder, texts, pairs=None) -> np.ndarray:
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        rows = []
        for index, text in enumerate(texts):
            encoded = tokenizer(text, None if pairs is None else pairs[index], return_tensors="pt")
            rows.append(model(**encoded).logits)
    return torch.cat(rows).numpy()


def test_outputs_ask_problem_types_for_every_type():
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]])
    for problem_type, names in [
        (problem_types.SINGLE_LABEL, EMOTIONS),
        (problem_types.MULTI_LABEL, EMOTIONS),
        (problem_types.REGRESSION, ["score"]),
    ]:
        config = AutoConfig.for_model("bert", **problem_types.config_fields(problem_type, names))
        rows = logits[:, : len(names)]
        outputs = outputs_from_logits(config, rows)
        np.testing.assert_allclose(outputs.scores, problem_types.output_scores(config, rows))
        np.testing.assert_array_equal(outputs.decisions, problem_types.predict(config, rows))
        assert outputs.names == problem_types.decision_names(config, outputs.decisions)
    single = prediction_columns(outputs_from_logits(AutoConfig.for_model("bert", **problem_types.config_fields(
        problem_types.SINGLE_LABEL, EMOTIONS)), logits))  # fmt: skip
    assert single.columns.tolist() == ["label", "score", "prob_anger", "prob_joy", "prob_sadness"]
    assert single["label"].tolist() == ["anger", "sadness"]


def test_multi_label_columns_apply_the_saved_thresholds(multi_label_dir, tmp_path):
    logits = direct_logits(multi_label_dir, TEXTS)
    probabilities = 1 / (1 + np.exp(-logits))
    output = tmp_path / "out.csv"
    texts = [argument for text in TEXTS for argument in ("--text", text)]
    predict.main(["--model_dir", str(multi_label_dir), *texts, "--output", str(output)])
    frame = pd.read_csv(output, keep_default_na=False)
    assert frame.columns.tolist() == ["text", "labels", "prob_anger", "prob_joy", "prob_sadness"]
    np.testing.assert_allclose(frame[["prob_anger", "prob_joy", "prob_sadness"]], probabilities, atol=1e-5)
    expected = ["|".join(["anger"] + (["joy"] if p >= 0.5 else [])) for p in probabilities[:, 1]]
    assert frame["labels"].tolist() == expected  # the thresholds of config.json, not 0.5 for every label


def test_regression_prints_the_value(regression_dir, capsys):
    predict.main(["--model_dir", str(regression_dir), "--text", TEXTS[0], "--text", TEXTS[1]])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [sorted(row) for row in rows] == [["text", "value"]] * 2
    classifier = TextClassifier(regression_dir, device="cpu", backend="torch")
    values = classifier.logits(TEXTS[:2])[:, 0]
    np.testing.assert_allclose([row["value"] for row in rows], values, atol=1e-5)
    with pytest.raises(ValueError, match="value, not probabilities"):
        classifier.predict_proba(TEXTS[:1])


def test_pairs_from_a_column_and_from_the_command_line(pair_dir, tmp_path, capsys):
    expected = direct_logits(pair_dir, TEXTS, SECOND)[:, 0]
    table = tmp_path / "pairs.csv"
    pd.DataFrame({"premise": TEXTS, "hypothesis": SECOND, "text_pair": "kept"}).to_csv(table, index=False)
    output = tmp_path / "out.jsonl"
    predict.main(["--model_dir", str(pair_dir), "--input", str(table), "--text_column", "premise",
                  "--text_pair_column", "hypothesis", "--output", str(output)])  # fmt: skip
    frame = pd.read_json(output, lines=True)
    np.testing.assert_allclose(frame["value"], expected, atol=1e-5)
    assert frame["input_text_pair"].tolist() == ["kept"] * 4  # the input's own column is not overwritten
    predict.main(["--model_dir", str(pair_dir), "--text", TEXTS[0], "--text_pair", SECOND[0]])
    row = json.loads(capsys.readouterr().out)
    assert row["value"] == pytest.approx(expected[0], abs=1e-5)


def test_pair_refusals(pair_dir, multi_label_dir, tmp_path):
    with pytest.raises(TextclsError, match="trained on text pairs"):
        predict.main(["--model_dir", str(pair_dir), "--text", TEXTS[0]])
    with pytest.raises(TextclsError, match="reads one text per example"):
        predict.main(["--model_dir", str(multi_label_dir), "--text", TEXTS[0], "--text_pair", SECOND[0]])
    with pytest.raises(TextclsError, match="one --text_pair after each --text"):
        predict.main(["--model_dir", str(pair_dir), "--text", TEXTS[0], "--text", TEXTS[1], "--text_pair", "x"])
    table = tmp_path / "pairs.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(table, index=False)
    with pytest.raises(TextclsError, match="no column 'hypothesis' for the second texts"):
        predict.main(["--model_dir", str(pair_dir), "--input", str(table), "--text_pair_column", "hypothesis"])


def test_rows_without_a_second_text_are_kept_unclassified(pair_dir, tmp_path):
    table = tmp_path / "pairs.csv"
    pd.DataFrame({"text": TEXTS[:2], "second": [SECOND[0], " "]}).to_csv(table, index=False)
    output = tmp_path / "out.csv"
    summary = predict.main(["--model_dir", str(pair_dir), "--input", str(table), "--text_pair_column", "second",
                            "--output", str(output)])  # fmt: skip
    assert summary["empty_rows"] == [2]
    assert pd.read_csv(output)["value"].isna().tolist() == [False, True]


def test_scores_explained_are_problem_types_scores():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]])
    for problem_type, names in [(problem_types.SINGLE_LABEL, EMOTIONS), (problem_types.MULTI_LABEL, EMOTIONS)]:
        config = AutoConfig.for_model("bert", **problem_types.config_fields(problem_type, names))
        np.testing.assert_allclose(
            differentiable_scores(config, logits).numpy(), problem_types.output_scores(config, logits), atol=1e-6
        )
    config = AutoConfig.for_model("bert", **problem_types.config_fields(problem_types.REGRESSION, ["score"]))
    np.testing.assert_allclose(differentiable_scores(config, logits[:, :1]).numpy()[:, 0], [2.0, -3.0])


def test_multi_label_explains_each_predicted_label(multi_label_dir):
    classifier = TextClassifier(multi_label_dir, device="cpu", backend="torch")
    outputs = classifier.predict(TEXTS[:1])
    explained = attribute_predicted(classifier, TEXTS[0], n_steps=8)
    assert [item.label for item in explained] == outputs.names[0]  # anger always; joy when it passes 0.5
    for item, name in zip(explained, outputs.names[0], strict=True):
        assert item.probability == pytest.approx(outputs.scores[0, EMOTIONS.index(name)], abs=1e-5)
    assert attribute(classifier, TEXTS[0], label="sadness", n_steps=8).label == "sadness"


def test_regression_attributions_add_up_to_the_value(regression_dir):
    """Integrated gradients of the value: the attributions sum to value(text) - value(all padding)."""
    classifier = TextClassifier(regression_dir, device="cpu", backend="torch")
    explained = attribute(classifier, TEXTS[0], n_steps=200)
    assert explained.explains == "value" and explained.label == "score"
    value = float(classifier.logits(TEXTS[:1])[0, 0])
    assert explained.probability == pytest.approx(value, abs=1e-5)
    with torch.no_grad():
        baseline = classifier.model(input_ids=torch.zeros((1, 1), dtype=torch.long)).logits[0, 0].item()
    assert sum(explained.scores) == pytest.approx(value - baseline, abs=1e-2)


def test_pair_explanation_shows_both_texts(pair_dir):
    classifier = TextClassifier(pair_dir, device="cpu", backend="torch")
    explained = attribute(classifier, TEXTS[0], text_pair=SECOND[0], n_steps=8)
    assert explained.text.startswith(TEXTS[0].lower()) or "happy" in explained.text
    assert "‖" in explained.text and explained.tokens[-1] in ("day", ".")
    assert [explained.text[start:end] for start, end in explained.offsets] == explained.tokens
    with pytest.raises(TextclsError, match="trained on text pairs"):
        attribute(classifier, TEXTS[0], n_steps=8)


@pytest.mark.parametrize("method", METHODS)
def test_pair_explanation_greys_what_the_longest_first_cut_dropped_of_either_text(pair_dir, method):
    """Both texts are shown; each loses its tail only when the tokenizer's longest-first cut shortened it."""
    classifier = TextClassifier(pair_dir, device="cpu", backend="torch", max_length=12)
    long_first, long_second = " ".join(TEXTS), " ".join(SECOND)
    for first, second, cut_texts in [(long_first, SECOND[0], 1), (TEXTS[0], long_second, 2)]:
        explained = attribute(classifier, first, text_pair=second, method=method, n_steps=4, n_samples=20)
        separator = explained.text.index("‖")
        assert explained.text == f"{first} ‖ {second}"
        kept = classifier.tokenizer(first, second, truncation="longest_first", max_length=12)
        sides = kept.sequence_ids()
        kept_ids = [[i for i, s in zip(kept["input_ids"], sides, strict=True) if s == side] for side in (0, 1)]
        full_ids = [classifier.tokenizer(text, add_special_tokens=False)["input_ids"] for text in (first, second)]
        shortened = [side for side in (0, 1) if len(kept_ids[side]) < len(full_ids[side])]
        assert len(shortened) == cut_texts and len(explained.unread) == cut_texts
        for side, (start, end) in zip(shortened, explained.unread, strict=True):
            last_read = max(e for s, e in explained.offsets if (s > separator) == (side == 1))
            assert start >= last_read  # the unread part follows the words read of that text, up to its end
            assert end == (separator - 1 if side == 0 else len(explained.text))
        fragment = attributions_html(explained)
        assert fragment.count("not read by the model") == cut_texts
        for start, end in explained.unread:
            assert f">{explained.text[start:end]}</span>" in fragment


def test_errors_of_regression_are_the_largest_absolute_errors(regression_dir, tmp_path):
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"text": TEXTS, "gold": [1.0, 2.0, 3.0, 4.0], "predicted": [1.1, 4.5, 2.0, 4.0]}).to_csv(path)
    config = AutoConfig.from_pretrained(regression_dir)
    worst = explain.most_confident_errors(path, 2, config)
    assert worst["text"].tolist() == [TEXTS[1], TEXTS[2]]
    assert worst["confidence"].tolist() == pytest.approx([2.5, 1.0])


def test_errors_of_multi_label_are_the_most_wrong_label_sets(multi_label_dir, tmp_path):
    path = tmp_path / "predictions.csv"
    pd.DataFrame(
        {
            "text": TEXTS,
            "gold": ["joy", "anger|sadness", "", "anger"],
            "predicted": ["joy", "joy", "anger", "anger|joy"],
            "prob_anger": [0.1, 0.0005, 0.9, 0.9],
            "prob_joy": [0.9, 0.6, 0.1, 0.95],
            "prob_sadness": [0.1, 0.2, 0.1, 0.1],
        }
    ).to_csv(path, index=False)
    worst = explain.most_confident_errors(path, 3, AutoConfig.from_pretrained(multi_label_dir))
    # row 2 has three wrong labels; rows 3 and 4 one each: row 3's anger is 0.9 - 0.001 from the model's threshold,
    # row 4's joy 0.95 - 0.5 (the thresholds of config.json, not 0.5 for every label)
    assert worst["text"].tolist() == [TEXTS[1], TEXTS[2], TEXTS[3]]
    assert worst["wrong_labels"].tolist() == [3, 1, 1]
    assert "missed anger, sadness; extra joy" in worst["error"].iloc[0]


def test_explain_cli_for_multi_label_errors_and_pairs(multi_label_dir, pair_dir, tmp_path):
    page = explain.main(["--model_dir", str(multi_label_dir), "--text", TEXTS[0], "--output_dir",
                         str(tmp_path / "multi"), "--n_steps", "4", "--no_attention"])  # fmt: skip
    records = [json.loads(line) for line in (tmp_path / "multi" / "attributions.jsonl").read_text().splitlines()]
    predicted = TextClassifier(multi_label_dir, device="cpu").predict(TEXTS[:1]).names[0]
    assert [record["label"] for record in records] == predicted
    assert page.is_file()
    explain.main(["--model_dir", str(pair_dir), "--text", TEXTS[0], "--text_pair", SECOND[0], "--output_dir",
                  str(tmp_path / "pair"), "--n_steps", "4"])  # fmt: skip
    html = (tmp_path / "pair" / "explanations.html").read_text()
    assert "value" in html and "lake" not in html and "happy" in html


def test_onnx_parity_counts_decisions_as_problem_types_decides():
    config = AutoConfig.for_model(
        "bert", **problem_types.config_fields(problem_types.MULTI_LABEL, EMOTIONS, decision_thresholds=[0.5, 0.9, 0.5])
    )
    torch_logits = np.array([[0.1, 2.0, -1.0], [0.1, 2.0, -1.0], [3.0, 3.0, 3.0]])
    # row 1: joy 0.881 -> 0.891 stays under its 0.9 threshold; row 2: anger crosses 0.5; row 3: unchanged
    onnx_logits = np.array([[0.1, 2.1, -1.0], [-0.1, 2.0, -1.0], [3.0, 3.0, 3.0]])
    assert decisions_changed(config, onnx_logits, torch_logits) == 1
    single = AutoConfig.for_model("bert", **problem_types.config_fields(problem_types.SINGLE_LABEL, EMOTIONS))
    assert decisions_changed(single, onnx_logits, torch_logits) == 0
    regression = AutoConfig.for_model("bert", **problem_types.config_fields(problem_types.REGRESSION, ["score"]))
    assert decisions_changed(regression, onnx_logits[:, :1], torch_logits[:, :1]) is None


def test_pair_model_exports_with_token_type_ids_and_predicts_alike(pair_dir, tmp_path):
    import onnxruntime

    folder = Path(shutil.copytree(pair_dir, tmp_path / "pair"))
    report = export_onnx.main(["--model_dir", str(folder)])
    assert report["labels_changed"] is None and report["max_abs_logit_difference"] < 1e-4
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    onnx_values = TextClassifier(folder, device="cpu", backend="onnx").logits(TEXTS, SECOND)
    np.testing.assert_allclose(onnx_values[:, 0], direct_logits(pair_dir, TEXTS, SECOND)[:, 0], atol=1e-4)
    table = tmp_path / "check.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(table, index=False)
    with pytest.raises(TextclsError, match="reads text pairs: give the --check_texts table's second-text column"):
        export_onnx.main(["--model_dir", str(folder), "--check_texts", str(table)])


def test_word_model_pairs_read_as_training_joined_them(tmp_path):
    """A GloVe pair classifier: its tokenizer joins the texts with [SEP]; predict and explain read both."""
    torch.manual_seed(0)
    problem = {"problem_type": problem_types.SINGLE_LABEL, "text_pair": True}
    folder = build_tiny_word_model(tmp_path / "glove_pair", "glove", TEXTS + SECOND, ["same", "other"], problem)
    classifier = TextClassifier(folder, device="cpu", backend="torch")
    expected = torch.softmax(torch.tensor(direct_logits(folder, TEXTS, SECOND)), dim=-1).numpy()
    np.testing.assert_allclose(classifier.predict_proba(TEXTS, SECOND), expected, atol=1e-5)
    explained = attribute(classifier, TEXTS[2], text_pair=SECOND[2], n_steps=8)
    separator = explained.text.index("‖")
    assert "lake" in explained.tokens and explained.tokens[-1] == "calm"  # "The lake was calm."
    assert explained.offsets[-1][0] > separator > explained.offsets[0][0]  # words of both texts, in order
    assert [explained.text[start:end] for start, end in explained.offsets] == explained.tokens
    short = TextClassifier(folder, device="cpu", backend="torch", max_length=8)  # 9 words and [SEP]: 2 cut
    cut = attribute(short, TEXTS[2], text_pair=SECOND[2], n_steps=4)
    assert [cut.text[start:end] for start, end in cut.unread] == ["lake", "calm"]  # the longer first, then either


def test_explain_reads_pairs_from_a_table_and_refuses_misplaced_pair_options(pair_dir, tmp_path):
    table = tmp_path / "pairs.csv"
    pd.DataFrame({"text": TEXTS[:1], "second": SECOND[:1]}).to_csv(table, index=False)
    common = ["--model_dir", str(pair_dir), "--output_dir", str(tmp_path / "out"), "--n_steps", "4", "--no_attention"]
    with pytest.raises(TextclsError, match="--text_pair is the second text of a --text"):
        explain.main([*common, "--input", str(table), "--text_pair", "x"])
    with pytest.raises(TextclsError, match="--text_pair_column names a column of an --input file"):
        explain.main([*common, "--text", TEXTS[0], "--text_pair_column", "second"])
    explain.main([*common, "--input", str(table), "--text_pair_column", "second"])
    records = [json.loads(line) for line in (tmp_path / "out" / "attributions.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["explains"] == "value" and "‖" in records[0]["text"]
