"""classifier_head "mlp": tiny BERT / RoBERTa / DistilBERT get dense layers over their first-token vector, train
through run_classification.py, and their folders reload with the same head everywhere (Auto classes, pipeline,
predict.py, LoRA adapters, trust_remote_code without this project, ONNX); bad settings are one clear message."""

import json
import os
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    DataCollatorWithPadding,
    pipeline,
)

import export_onnx
import run_classification
from inference import TextClassifier
from modeling import TransformerMlpConfig, TransformerMlpForSequenceClassification
from modeling.classifier_heads import classifier_config
from modeling.word_models import build_word_model
from tests.test_run_classification import TOPICS, config_for, write_splits
from tests.tiny_models import FAMILIES, assert_predict_replays_the_run, build_tiny_model
from textcls_errors import TextclsError
from training.arguments import parse_arguments
from training.class_separation import document_embeddings

HIDDEN = [24, 12]
ENCODER_WIDTH = 32  # tests/tiny_models.py
LABELS = sorted(TOPICS)
PROBE = ["rocket orbit launch moon", "goal team league score", "bake flour oven butter"]


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 150, 30, 30)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory, csv_files):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    torch.manual_seed(0)
    return {family: build_tiny_model(tmp_path_factory.mktemp(family), family, texts, 3) for family in FAMILIES}


def mlp_model(backbone, hidden_sizes=HIDDEN, dropout=None):
    """What run_classification.load_pretrained builds for classifier_head mlp."""
    config = AutoConfig.from_pretrained(backbone, id2label=dict(enumerate(LABELS)))
    config = classifier_config(config, "mlp", hidden_sizes, dropout)
    return AutoModelForSequenceClassification.from_pretrained(backbone, config=config)


def logits(model, tokenizer, texts=PROBE):
    with torch.no_grad():
        return model.eval()(**tokenizer(texts, padding=True, return_tensors="pt")).logits


@pytest.mark.parametrize("family", FAMILIES)
def test_head_has_the_configured_layers_on_the_pretrained_encoder(family, backbones, tmp_path):
    backbone = backbones[family]
    model = mlp_model(backbone)
    assert isinstance(model, TransformerMlpForSequenceClassification)
    head = model.classifier
    assert [(layer.in_features, layer.out_features) for layer in head.layers] == [(ENCODER_WIDTH, 24), (24, 12)]
    assert (head.output.in_features, head.output.out_features) == (12, 3)
    assert head.dropout.p == pytest.approx(0.2 if family == "distilbert" else 0.1)  # the architecture's own

    # the encoder's weights are the backbone's, under the same names; only the head is new
    original = AutoModelForSequenceClassification.from_pretrained(backbone).state_dict()
    loaded = model.state_dict()
    encoder_keys = [name for name in loaded if not name.startswith("classifier.")]
    assert encoder_keys and all(name.startswith(f"{family}.") for name in encoder_keys)
    assert all(torch.equal(loaded[name], original[name]) for name in encoder_keys)

    # save -> Auto classes -> the same model and the same logits
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "textcls-transformer-mlp" and saved["classifier_hidden_sizes"] == HIDDEN
    assert saved["encoder"]["model_type"] == family
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(reloaded) is type(model)
    torch.testing.assert_close(logits(reloaded, tokenizer), logits(model, tokenizer), rtol=0, atol=1e-6)


def test_a_bare_encoder_checkpoint_fills_the_encoder(backbones, tmp_path):
    """Backbones such as MiniLM are saved without a head and without the `bert.` prefix on their weights."""
    AutoModel.from_pretrained(backbones["bert"]).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(backbones["bert"]).save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path).state_dict()
    model = mlp_model(tmp_path).state_dict()
    shared = [name for name in encoder if not name.startswith("pooler.")]  # the head reads [CLS], not the pooler
    assert shared and all(torch.equal(model[f"bert.{name}"], encoder[name]) for name in shared)


def test_document_embedding_is_what_the_output_layer_reads(backbones, tmp_path):
    model = mlp_model(backbones["distilbert"])
    tokenizer = AutoTokenizer.from_pretrained(backbones["distilbert"])
    rows = tokenizer(PROBE)
    from datasets import Dataset

    dataset = Dataset.from_dict(dict(rows))
    vectors, predicted = document_embeddings(
        model, dataset, DataCollatorWithPadding(tokenizer), batch_size=2, with_predictions=True
    )
    assert vectors.shape == (3, 12)  # the last dense layer, not the 32-wide [CLS] vector
    model.eval()
    with torch.no_grad():
        expected = model.classifier.output(torch.as_tensor(vectors))
    np.testing.assert_array_equal(expected.argmax(-1).numpy(), predicted)


def test_linear_default_leaves_the_backbone_config_alone(backbones):
    config = AutoConfig.from_pretrained(backbones["bert"])
    before = config.to_dict()
    assert classifier_config(config, "linear", None, None) is config
    assert config.to_dict() == before
    distilbert = classifier_config(AutoConfig.from_pretrained(backbones["distilbert"]), "linear", None, 0.3)
    assert distilbert.seq_classif_dropout == 0.3  # the architecture's own head reads it
    mlp = classifier_config(AutoConfig.from_pretrained(backbones["roberta"]), "mlp", None, None)
    assert mlp.classifier_hidden_sizes == [ENCODER_WIDTH]  # default: one layer as wide as the encoder


def run(tmp_path, csv_files, backbone, **settings):
    defaults = dict(
        classifier_head="mlp", classifier_hidden_sizes=HIDDEN, num_train_epochs=6, embedding_projection=False
    )
    return run_classification.main([config_for(tmp_path, backbone, csv_files, **(defaults | settings))])


@pytest.mark.parametrize("family", ["bert", "roberta"])  # DistilBERT trains below, with LoRA
def test_mlp_head_trains_and_its_folder_serves_everywhere(family, backbones, csv_files, tmp_path):
    results = run(tmp_path, csv_files, backbones[family])
    assert results["test_accuracy"] > 0.8, results  # chance is 1/3; the topic words give the class away
    out = tmp_path / "out"
    config = json.loads((out / "config.json").read_text())
    assert config["classifier_hidden_sizes"] == HIDDEN and config["text_truncation"]["max_seq_length"] == 32

    predicted = assert_predict_replays_the_run(out)
    classify = pipeline("text-classification", model=str(out))
    assert [row["label"] for row in classify(predicted["text"].tolist()[:8], truncation=True, max_length=32)] == (
        predicted["label"].tolist()[:8]
    )


def test_lora_trains_the_mlp_head_and_the_adapters_only(backbones, csv_files, tmp_path):
    backbone = backbones["distilbert"]
    results = run(tmp_path, csv_files, backbone, use_lora=True, learning_rate=1e-2)
    assert results["test_accuracy"] > 0.6, results
    out = tmp_path / "out"
    assert (out / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"q_lin", "v_lin"} and "classifier" in adapter["modules_to_save"]
    # the head's code and auto_map sit beside the adapter, as in a plain saved folder
    auto_map = json.loads((out / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForSequenceClassification"].startswith("modeling_transformer_mlp.")
    assert (out / "modeling_transformer_mlp.py").is_file() and (out / "configuration_transformer_mlp.py").is_file()

    merged = TextClassifier(out).model
    assert isinstance(merged, TransformerMlpForSequenceClassification)
    original = mlp_model(backbone).state_dict()
    changed = {name for name, tensor in merged.state_dict().items() if not torch.equal(original[name], tensor)}
    assert any(name.startswith("classifier.layers.0") for name in changed), sorted(changed)
    assert all(name.startswith("classifier.") or "q_lin" in name or "v_lin" in name for name in changed), changed
    assert_predict_replays_the_run(out)


def test_saved_mlp_model_exports_to_onnx(backbones, tmp_path):
    model = mlp_model(backbones["bert"])
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(backbones["bert"]).save_pretrained(tmp_path)
    report = export_onnx.main(["--model_dir", str(tmp_path), "--output", str(tmp_path / "model.onnx")])
    assert report["max_abs_logit_difference"] < 1e-4


REMOTE_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.path.append(sys.argv[1])  # site-packages only: no .pth files, so no editable install of this project
    try:
        import modeling
    except ImportError:
        pass
    else:
        raise SystemExit(f"the project is importable from {modeling.__file__}")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    folder, texts = sys.argv[2], json.loads(sys.argv[3])
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.tolist()
    labels = [row["label"] for row in pipeline("text-classification", model=folder, trust_remote_code=True)(texts)]
    print(json.dumps({"logits": logits, "labels": labels}))
    """
)


def test_folder_loads_with_trust_remote_code_without_this_project(backbones, tmp_path):
    """What a Hub user gets: auto_map and the model's code travel with the weights."""
    model = mlp_model(backbones["roberta"])
    tokenizer = AutoTokenizer.from_pretrained(backbones["roberta"])
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"] == {
        "AutoConfig": "configuration_transformer_mlp.TransformerMlpConfig",
        "AutoModelForSequenceClassification": "modeling_transformer_mlp.TransformerMlpForSequenceClassification",
    }
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    completed = subprocess.run(
        [sys.executable, "-S", "-c", REMOTE_CHECK, sysconfig.get_paths()["purelib"], str(tmp_path), json.dumps(PROBE)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    remote = json.loads(completed.stdout.strip().splitlines()[-1])
    expected = logits(model, tokenizer)
    torch.testing.assert_close(torch.tensor(remote["logits"]), expected, rtol=0, atol=1e-6)
    assert remote["labels"] == [LABELS[index] for index in expected.argmax(-1).tolist()]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--classifier_head", "deep"], "classifier_head must be one of linear, mlp; got 'deep'"),
        (["--classifier_hidden_sizes", "64"], "classifier_hidden_sizes=\\[64\\] needs classifier_head 'mlp'"),
        (["--classifier_head", "mlp", "--classifier_hidden_sizes", "64", "0"], "one or more positive widths"),
        (["--classifier_head", "mlp", "--classifier_dropout", "1.5"], "classifier_dropout must be in \\[0, 1\\)"),
    ],
)
def test_bad_head_settings_are_one_clear_message(flags, message, tmp_path):
    with pytest.raises(TextclsError, match=message):
        parse_arguments(["--model_name_or_path", "bert-base-uncased", "--output_dir", str(tmp_path), *flags])


def test_word_models_point_to_their_own_settings(tmp_path):
    with pytest.raises(TextclsError, match="hidden_sizes \\(glove\\) and dropout"):
        parse_arguments(["--model_type", "glove", "--classifier_head", "mlp", "--output_dir", str(tmp_path)])
    model, _ = build_word_model("glove", ["a text", "another text"], ["x", "y"], word_vectors=None)
    with pytest.raises(TextclsError, match="textcls-glove model, whose dense layers"):
        classifier_config(model.config, "mlp", [8], None)


def test_a_saved_mlp_model_keeps_its_head(backbones):
    saved = TransformerMlpConfig(encoder=AutoConfig.from_pretrained(backbones["bert"]), classifier_hidden_sizes=[16])
    assert classifier_config(saved, "linear", None, None).classifier_hidden_sizes == [16]
    with pytest.raises(TextclsError, match="classifier_hidden_sizes \\[16\\], not \\[8\\]"):
        classifier_config(saved, "mlp", [8], None)


def test_predictions_stop_at_the_backbones_position_limit(backbones, tmp_path):
    """A tokenizer without a length limit: the wrapped encoder's max_position_embeddings (256 here) bounds reading."""
    mlp_model(backbones["bert"]).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(backbones["bert"])
    tokenizer.model_max_length = int(1e30)
    tokenizer.save_pretrained(tmp_path)
    assert TextClassifier(tmp_path).max_length == 256


def test_gradient_checkpointing_reaches_the_encoder():
    config = TransformerMlpConfig(
        encoder=BertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32),
        classifier_hidden_sizes=[8],
        num_labels=3,
    )
    model = TransformerMlpForSequenceClassification(config)
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    model.train()(torch.randint(0, 100, (2, 6)), labels=torch.tensor([0, 2])).loss.backward()
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_explain_draws_the_wrapped_encoders_attention(backbones, tmp_path):
    from inference.attention import cls_attention, has_attention

    mlp_model(backbones["bert"]).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(backbones["bert"]).save_pretrained(tmp_path)
    classifier = TextClassifier(tmp_path, device="cpu")
    assert has_attention(classifier)  # the heads live in the encoder's config, not the wrapper's
    attention = cls_attention(classifier, PROBE[0])
    assert attention.weights.shape[0] == classifier.config.encoder.num_attention_heads
    np.testing.assert_allclose(attention.weights.sum(axis=1), 1.0, rtol=1e-5)
