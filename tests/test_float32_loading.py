"""transformers 5 loads weights in the dtype a folder was saved in (dtype="auto"): a bf16 backbone would train in
half precision (fp16's grad scaler refuses it; ONNX parity calls .numpy() on it). Every model built for training,
prediction or export is loaded in float32; mixed precision stays autocast."""

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

import run_classification
from modeling.lora import load_for_inference
from tests.tiny_models import build_tiny_model
from training.arguments import ModelArguments

TEXTS = ["the rocket reached orbit", "bake the bread in the oven", "the team scored a goal"] * 5


@pytest.fixture(scope="module")
def bf16_folder(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("bf16"), "bert", TEXTS, label_names=["a", "b"])
    AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.bfloat16).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    assert AutoModelForSequenceClassification.from_pretrained(folder).dtype == torch.bfloat16  # what "auto" does
    return folder


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_a_bf16_backbone_loads_in_float32_for_training(bf16_folder, head):
    model_args = ModelArguments(model_name_or_path=str(bf16_folder), classifier_head=head)
    model, _ = run_classification.load_pretrained(model_args, ["a", "b"])
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


def test_a_bf16_folder_loads_in_float32_for_prediction_and_export(bf16_folder):
    model = load_for_inference(bf16_folder)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}
