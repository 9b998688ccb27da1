"""LoRA through peft: only adapters and the head train; the adapter folder or the merged model reloads and
predicts exactly what the run predicted."""

import json

import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification

import run_classification
from modeling.lora import add_lora, load_for_inference
from modeling.word_models import build_word_model
from tests.test_run_classification import config_for, write_splits
from tests.tiny_models import assert_predict_replays_the_run, build_tiny_model
from textcls_errors import TextclsError
from training.arguments import parse_arguments


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 150, 30, 30)


def train(tmp_path, csv_files, family, **settings):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    torch.manual_seed(0)  # the same random backbone every time: some draws of so tiny a model learn slowly
    backbone = build_tiny_model(tmp_path / family, family, texts, num_labels=3)
    defaults = dict(use_lora=True, lora_r=8, learning_rate=1e-2, num_train_epochs=6, embedding_projection=False)
    settings = defaults | settings
    results = run_classification.main([config_for(tmp_path, backbone, csv_files, **settings)])
    return backbone, tmp_path / "out", results


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_adapter_trains_only_lora_and_head_and_reloads(family, tmp_path, csv_files, caplog):
    caplog.set_level("INFO")
    backbone, out, results = train(tmp_path, csv_files, family)
    assert results["test_accuracy"] > 0.6, results  # chance is 1/3: adapters on a frozen random backbone learn
    assert "trainable parameters of" in caplog.text

    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(backbone)  # the name the config gave
    assert not (out / "model.safetensors").exists()  # the adapter, not a copy of the backbone
    assert json.loads((out / "config.json").read_text())["id2label"]["0"] == "food"

    original = AutoModelForSequenceClassification.from_pretrained(backbone).state_dict()
    merged = load_for_inference(out).state_dict()
    adapted = {"query", "value", "q_lin", "v_lin", "classifier"}
    changed = {name for name in original if not torch.equal(original[name], merged[name])}
    assert changed, "nothing trained"
    assert all(any(part in name for part in adapted) for name in changed), sorted(changed)
    assert_predict_replays_the_run(out)


def test_merged_model_is_a_plain_model(tmp_path, csv_files):
    _, out, _ = train(tmp_path, csv_files, "bert", merge_lora=True)
    assert not (out / "adapter_config.json").exists()
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert not any("lora" in name for name in model.state_dict())
    assert_predict_replays_the_run(out)


def test_lora_is_for_transformers_only(tmp_path):
    with pytest.raises(TextclsError, match="use_lora adapts a pretrained transformer"):
        parse_arguments(["--model_type", "glove", "--use_lora", "true", "--output_dir", str(tmp_path)])
    model, _ = build_word_model("glove", ["a text", "another text"], ["x", "y"], word_vectors=None)
    with pytest.raises(TextclsError, match="lora_target_modules"):
        add_lora(model, 4, 8, 0.0, None)
