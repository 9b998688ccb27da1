"""export_onnx.py: transformer and GloVe classifiers export with dynamic axes and match PyTorch; RNNs are refused."""

import numpy as np
import onnxruntime
import pytest
import torch
from transformers import AutoTokenizer

import export_onnx
from modeling.word_models import build_word_model
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError

TEXTS = ["the rocket reached orbit", "goal in the last minute of the match", "bake the bread", "a"]


@pytest.fixture(scope="module")
def glove_dir(tmp_path_factory):
    torch.manual_seed(0)
    model, tokenizer = build_word_model("glove", TEXTS * 3, ["x", "y", "z"], word_vectors=None)
    folder = tmp_path_factory.mktemp("glove")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family", ["bert", "distilbert", "glove"])
def test_export_matches_torch_on_other_shapes(family, tmp_path, glove_dir):
    folder = glove_dir if family == "glove" else build_tiny_model(tmp_path / family, family, TEXTS * 5, 3)
    report = export_onnx.main(["--model_dir", str(folder), "--output", str(tmp_path / "model.onnx")])
    assert report["max_abs_logit_difference"] < 1e-4 and report["texts"] == len(export_onnx.CHECK_TEXTS)

    # a batch size and length the export never saw
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(TEXTS * 2, padding=True, return_tensors="np")
    inputs = {item.name: batch[item.name] for item in session.get_inputs()}
    assert session.run(None, inputs)[0].shape == (8, 3)


def test_rnn_models_are_refused_with_the_reason(tmp_path):
    model, tokenizer = build_word_model("lstm", TEXTS, ["x", "y"], word_vectors=None)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(TextclsError, match="RNN models"):
        export_onnx.main(["--model_dir", str(tmp_path)])
    assert not np.any([path.suffix == ".onnx" for path in tmp_path.iterdir()])


def test_an_export_that_disagrees_is_deleted(tmp_path, glove_dir, monkeypatch):
    def disagreeing(model, tokenizer, path, texts, batch_size=32):
        return {"texts": len(texts), "max_abs_logit_difference": 0.5}

    monkeypatch.setattr(export_onnx, "compare_with_torch", disagreeing)
    with pytest.raises(TextclsError, match="so it was deleted"):
        export_onnx.main(["--model_dir", str(glove_dir), "--output", str(tmp_path / "model.onnx")])
    assert not (tmp_path / "model.onnx").exists()
