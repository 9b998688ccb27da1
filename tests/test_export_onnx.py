"""export_onnx.py: transformer, GloVe and RNN classifiers export with dynamic axes and match PyTorch."""

import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from transformers import AutoConfig, AutoTokenizer

import export_onnx
from modeling.lora import load_for_inference
from modeling.word_models import build_word_model
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError

TEXTS = ["the rocket reached orbit", "goal in the last minute of the match", "bake the bread", "a"]


# RNN settings that together cover every cell, pooling, depth and direction (each export takes a while)
RNN_SETTINGS = {
    "lstm": {"cell": "lstm", "num_layers": 2, "bidirectional": True, "pooling": "last"},
    "gru": {"cell": "gru", "num_layers": 1, "bidirectional": True, "pooling": "mean"},
    "rnn": {"cell": "rnn", "num_layers": 2, "bidirectional": False, "pooling": "max"},
}


def save_word_model(folder, model_type: str, **settings):
    torch.manual_seed(0)
    model, tokenizer = build_word_model(
        model_type, TEXTS * 3, ["x", "y", "z"], word_vectors=None, model_kwargs=settings or None
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def glove_dir(tmp_path_factory):
    return save_word_model(tmp_path_factory.mktemp("glove"), "glove")


@pytest.mark.parametrize("family", ["bert", "distilbert", "glove", *RNN_SETTINGS])
def test_export_matches_torch_on_other_shapes(family, tmp_path, glove_dir):
    if family in RNN_SETTINGS:  # written where the CLI puts it by default: model.onnx in the model's folder
        folder = save_word_model(tmp_path / family, "lstm", embedding_dim=8, hidden_size=4, **RNN_SETTINGS[family])
        output = folder / "model.onnx"
        report = export_onnx.main(["--model_dir", str(folder)])
    else:  # the shared GloVe folder stays without model.onnx (other tests read it)
        folder = glove_dir if family == "glove" else build_tiny_model(tmp_path / family, family, TEXTS * 5, 3)
        output = tmp_path / "model.onnx"
        report = export_onnx.main(["--model_dir", str(folder), "--output", str(output)])
    # the check texts differ in length, so right padding meets the backward direction of the RNNs
    assert report["file"] == str(output) and output.is_file()
    assert report["max_abs_logit_difference"] < 1e-4 and report["texts"] == len(export_onnx.CHECK_TEXTS)

    # a batch size and length the export never saw, texts of 1 to 8 words
    session = onnxruntime.InferenceSession(str(output))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(TEXTS * 2, padding=True, return_tensors="np")
    inputs = {item.name: batch[item.name] for item in session.get_inputs()}
    logits = session.run(None, inputs)[0]
    assert logits.shape == (8, 3)
    model = load_for_inference(folder)
    with torch.no_grad():
        expected = model(**{name: torch.from_numpy(array) for name, array in inputs.items()}).logits.numpy()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)


def test_an_export_that_disagrees_is_deleted(tmp_path, glove_dir, monkeypatch):
    def disagreeing(model, tokenizer, path, texts, **options):
        return {"texts": len(texts), "max_abs_logit_difference": 0.5}

    monkeypatch.setattr(export_onnx, "compare_with_torch", disagreeing)
    with pytest.raises(TextclsError, match="so it was deleted"):
        export_onnx.main(["--model_dir", str(glove_dir), "--output", str(tmp_path / "model.onnx")])
    assert not (tmp_path / "model.onnx").exists()


def test_the_parity_check_cuts_texts_as_training_did(tmp_path):
    """The recorded max_seq_length and head+tail side, not the model's 256-position limit, shape the checked inputs."""
    folder = build_tiny_model(tmp_path / "bert", "bert", TEXTS * 5, 3)
    config = AutoConfig.from_pretrained(folder)
    config.text_truncation = {"max_seq_length": 16, "side": "head+tail", "head_tokens": 4}
    config.save_pretrained(folder)
    long_texts = [" ".join(TEXTS * 10), " ".join(reversed(TEXTS * 12))]  # 100+ tokens each
    (tmp_path / "texts.txt").write_text("\n".join(long_texts) + "\n")
    report = export_onnx.main(["--model_dir", str(folder), "--check_texts", str(tmp_path / "texts.txt")])
    assert report["max_tokens"] == 16 and report["max_abs_logit_difference"] < 1e-4


# Optimized and int8 graphs, and which backend predict.py picks


@pytest.fixture(scope="module")
def exported_bert(tmp_path_factory):
    """A tiny BERT folder with model.onnx (fused) and model.int8.onnx beside its weights."""
    folder = build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", TEXTS * 5, 3)
    report = export_onnx.main(
        ["--model_dir", str(folder), "--optimize", "--quantize", "int8", "--min_label_agreement", "0"]
    )
    return folder, report


def test_optimize_and_quantize_report_logits_and_labels(exported_bert):
    folder, report = exported_bert
    # every fusion applied: the traced eager-attention graph, not the dynamo one (whose attention stayed unfused)
    fused = report["fused_operators"]
    assert fused.get("Attention") == fused.get("BiasGelu") == 2 and fused.get("SkipLayerNormalization") == 4
    assert fused.get("EmbedLayerNormalization") == 1
    assert report["max_abs_logit_difference"] < 1e-4 and report["labels_changed"] == 0
    int8 = report["int8"]
    assert int8["file"] == str(folder / "model.int8.onnx") and (folder / "model.int8.onnx").is_file()
    assert int8["texts"] == len(export_onnx.CHECK_TEXTS) and 0 <= int8["labels_changed"] <= int8["texts"]
    assert int8["label_agreement"] == 1 - int8["labels_changed"] / int8["texts"]
    assert int8["max_abs_logit_difference"] > 0  # int8 is not the fp32 graph


def test_backend_choice_follows_the_files_and_their_weights(exported_bert, tmp_path, caplog):
    import shutil

    from inference import TextClassifier

    folder, _ = exported_bert
    torch_probabilities = TextClassifier(folder, device="cpu", backend="torch").predict_proba(TEXTS)
    auto = TextClassifier(folder, device="cpu")
    assert auto.backend.name == "onnx"  # model.onnx matches the weights
    np.testing.assert_allclose(auto.predict_proba(TEXTS), torch_probabilities, atol=1e-5)
    int8 = TextClassifier(folder, device="cpu", backend="onnx-int8")
    assert int8.backend.name == "onnx-int8" and int8.predict_proba(TEXTS).shape == (4, 3)

    retrained = Path(shutil.copytree(folder, tmp_path / "retrained"))
    model = load_for_inference(retrained)
    with torch.no_grad():
        model.classifier.bias += 1.0
    model.save_pretrained(retrained)
    with caplog.at_level("WARNING"):
        assert TextClassifier(retrained, device="cpu").backend.name == "torch"
    assert "exported from other weights" in caplog.text
    with pytest.raises(TextclsError, match="model.onnx was exported from other weights"):
        TextClassifier(retrained, device="cpu", backend="onnx")

    unstamped = Path(shutil.copytree(folder, tmp_path / "unstamped"))
    graph = onnx.load(str(unstamped / "model.onnx"))
    del graph.metadata_props[:]  # as exported before the fingerprint was recorded
    onnx.save(graph, str(unstamped / "model.onnx"))
    with pytest.raises(TextclsError, match="records no fingerprint of the weights it was exported from"):
        TextClassifier(unstamped, device="cpu", backend="onnx")

    bare = Path(shutil.copytree(folder, tmp_path / "bare", ignore=shutil.ignore_patterns("*.onnx")))
    assert TextClassifier(bare, device="cpu").backend.name == "torch"
    with pytest.raises(TextclsError, match="model.int8.onnx, which does not exist: write it with .*--quantize int8"):
        TextClassifier(bare, device="cpu", backend="onnx-int8")


def test_an_int8_model_that_changes_labels_is_refused(tmp_path, glove_dir, monkeypatch):
    real_compare = export_onnx.compare_with_torch

    def int8_changes_one(model, tokenizer, path, texts, **options):
        report = real_compare(model, tokenizer, path, texts, **options)
        return {**report, "labels_changed": 1} if ".int8." in str(path) else report

    monkeypatch.setattr(export_onnx, "compare_with_torch", int8_changes_one)
    output = tmp_path / "model.onnx"
    arguments = ["--model_dir", str(glove_dir), "--output", str(output), "--quantize", "int8"]
    with pytest.raises(TextclsError, match=r"changes the label of 1 of 5 check texts \(agreement 80.00% < "):
        export_onnx.main(arguments)
    assert output.is_file() and not (tmp_path / "model.int8.onnx").exists()
    report = export_onnx.main([*arguments, "--keep_below_agreement"])
    assert report["int8"]["label_agreement"] == pytest.approx(0.8) and (tmp_path / "model.int8.onnx").is_file()
    report = export_onnx.main([*arguments, "--min_label_agreement", "0.8"])
    assert (tmp_path / "model.int8.onnx").is_file()


def test_int8_quantization_keeps_onnxruntime_lines_off_the_terminal(tmp_path, glove_dir, caplog):
    """onnxruntime's quantizer logs on the root logger (a line per tensor, advice for its own users): during
    --quantize int8 those lines go to DEBUG, and afterwards the root logger is as it was."""
    root = logging.getLogger()
    filters = list(root.filters)
    arguments = ["--model_dir", str(glove_dir), "--output", str(tmp_path / "model.onnx"), "--quantize", "int8"]
    with caplog.at_level(logging.DEBUG):
        export_onnx.main([*arguments, "--min_label_agreement", "0"])
    assert (tmp_path / "model.int8.onnx").is_file()
    assert [record.getMessage() for record in caplog.records if record.name == "root"] == []
    demoted = [r for r in caplog.records if r.name == "inference.onnx_variants" and r.levelno == logging.DEBUG]
    assert any(record.getMessage().startswith("onnxruntime (warning): ") for record in demoted)
    assert root.filters == filters
    with caplog.at_level(logging.INFO):
        logging.info("a line of the program's own")  # the root logger still speaks once the quantizer is done
    assert caplog.records[-1].getMessage() == "a line of the program's own"
