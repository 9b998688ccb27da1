"""A fine-tuned folder read by run_classification.py meets the data's classes by name: the same classes in another
order move the head's output rows (every family's head: BERT, RoBERTa, DistilBERT, MLP, GloVe, LSTM, and under
LoRA), another set is refused unless ignore_mismatched_sizes asks for a new head."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

import run_classification
from modeling.classifier_heads import classifier_config
from modeling.label_mapping import match_labels, output_layer, reorder_output_rows, saved_label_names, set_label_names
from modeling.lora import add_lora
from modeling.word_models import build_word_model
from tests.test_run_classification import config_for, write_splits
from tests.tiny_models import FAMILIES, build_tiny_model
from textcls_errors import TextclsError
from training.arguments import ModelArguments

SAVED = ["pos", "neg", "mixed"]  # the order the model was trained in
DATA = ["mixed", "neg", "pos"]  # the order of this data's ClassLabel (sorted, as a CSV gives it)
TEXTS = ["good great fine", "bad awful poor", "good but bad", "rocket orbit launch", "fine poor great awful"]


def save_fine_tuned(folder, family):
    """A tiny classifier whose head holds trained-looking rows, saved with the classes in SAVED order."""
    torch.manual_seed(0)
    if family in FAMILIES:
        build_tiny_model(folder, family, TEXTS * 4, label_names=SAVED)
    elif family == "mlp":
        backbone = build_tiny_model(folder.parent / "backbone", "bert", TEXTS * 4)
        config = AutoModelForSequenceClassification.from_pretrained(backbone).config
        config.id2label, config.label2id = dict(enumerate(SAVED)), {name: i for i, name in enumerate(SAVED)}
        config.num_labels = len(SAVED)
        model = AutoModelForSequenceClassification.from_pretrained(
            backbone, config=classifier_config(config, "mlp", [16], None)
        )
        model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(backbone).save_pretrained(folder)
    else:
        model, tokenizer = build_word_model(family, TEXTS * 4, SAVED, word_vectors=None, model_max_length=64)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():  # distinct rows, so that a position mix-up shows
        layer = output_layer(model, len(SAVED))
        layer.weight.normal_(0, 1)
        layer.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    model.save_pretrained(folder)
    return folder


def logits(model, tokenizer):
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    batch = {name: encoded[name] for name in ("input_ids", "attention_mask")}
    with torch.no_grad():
        return model.eval()(**batch).logits


@pytest.mark.parametrize("family", [*FAMILIES, "mlp", "glove", "lstm"])
def test_same_classes_in_another_order_keep_every_prediction(family, tmp_path, caplog):
    folder = save_fine_tuned(tmp_path / family, family)
    saved_model = AutoModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    before = logits(saved_model, tokenizer)

    with caplog.at_level(logging.WARNING):
        model, _ = run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), DATA)
    after = logits(model, tokenizer)

    assert model.config.id2label == dict(enumerate(DATA))
    # Column j of the reloaded model is the data's class DATA[j]: the same score the saved model gave that name.
    for j, name in enumerate(DATA):
        torch.testing.assert_close(after[:, j], before[:, SAVED.index(name)])
    predicted_names = [DATA[i] for i in after.argmax(-1)]
    assert predicted_names == [SAVED[i] for i in before.argmax(-1)]
    assert "reordered" in caplog.text


def test_lora_on_a_reordered_head_keeps_predictions(tmp_path):
    folder = save_fine_tuned(tmp_path / "bert", "bert")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    before = logits(AutoModelForSequenceClassification.from_pretrained(folder), tokenizer)
    model, _ = run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), DATA)
    wrapped = add_lora(model, 4, 8, 0.0, None)  # LoRA's B starts at zero: same function as the base
    after = logits(wrapped, tokenizer)
    torch.testing.assert_close(after[:, [DATA.index(name) for name in SAVED]], before)


def test_another_set_of_classes_is_refused_unless_a_new_head_is_asked_for(tmp_path, caplog):
    folder = save_fine_tuned(tmp_path / "bert", "bert")
    other = ["mixed", "neg", "sports"]
    with pytest.raises(TextclsError, match=r"lacks \['sports'\].*lacks \['pos'\].*ignore_mismatched_sizes"):
        run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), other)
    with pytest.raises(TextclsError, match="ignore_mismatched_sizes"):  # another number of classes
        run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), ["neg", "pos"])

    saved_rows = output_layer(AutoModelForSequenceClassification.from_pretrained(folder), 3).weight
    model, _ = run_classification.load_pretrained(
        ModelArguments(model_name_or_path=str(folder), ignore_mismatched_sizes=True), other
    )
    assert model.config.id2label == dict(enumerate(other))
    assert not torch.equal(output_layer(model, 3).weight, saved_rows)  # a new head, not the old rows by position
    assert "other classes" in caplog.text and "new, untrained output layer" in caplog.text


def test_unnamed_classes_are_not_matched_by_position():
    assert match_labels(["LABEL_0", "LABEL_1"], ["neg", "pos"]).order is None
    assert match_labels(["LABEL_0", "LABEL_1"], ["LABEL_0", "LABEL_1"]).same
    assert match_labels(["b", "a"], ["a", "b"]).order == [1, 0]


def test_backbone_without_a_head_takes_the_data_classes(tmp_path):
    tiny = build_tiny_model(tmp_path / "tiny", "bert", TEXTS * 4)
    folder = tmp_path / "base"  # a pretrained encoder (BertModel), as on the Hub: no head, classes LABEL_0, LABEL_1
    AutoModel.from_pretrained(tiny).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(folder)
    model, _ = run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), DATA)
    assert model.config.id2label == dict(enumerate(DATA))


def test_unnamed_head_gets_a_new_layer_for_training_and_is_refused_for_evaluation(tmp_path, caplog):
    folder = build_tiny_model(tmp_path / "hub", "bert", TEXTS * 4, num_labels=3)  # classes LABEL_0, LABEL_1, ...
    with pytest.raises(TextclsError, match="unnamed, so they cannot be matched by name"):
        run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), DATA, training=False)
    saved_rows = output_layer(AutoModelForSequenceClassification.from_pretrained(folder), 3).weight
    model, _ = run_classification.load_pretrained(ModelArguments(model_name_or_path=str(folder)), DATA)
    assert not torch.equal(output_layer(model, 3).weight, saved_rows)
    assert "unnamed classes" in caplog.text


def test_evaluating_a_folder_saved_in_another_class_order_writes_the_same_predictions(tmp_path):
    """End to end: the folder's classes listed as (sport, food, space), the data's as (food, space, sport)."""
    csv_files = write_splits(tmp_path, 90, 15, 30)
    settings = dict(model_name_or_path=None, model_type="glove", word_vectors="random", embedding_projection=False)
    run_classification.main([config_for(tmp_path, None, csv_files, num_train_epochs=2, **settings)])
    trained = tmp_path / "out"
    model = AutoModelForSequenceClassification.from_pretrained(trained)
    names = saved_label_names(model.config)
    assert names == ["food", "space", "sport"]
    shuffled = ["sport", "food", "space"]
    reorder_output_rows(model, [names.index(name) for name in shuffled])
    set_label_names(model.config, shuffled)
    other_order = tmp_path / "other_order"
    model.save_pretrained(other_order)
    AutoTokenizer.from_pretrained(trained).save_pretrained(other_order)

    evaluation = [f"--{split}_file={path}" for split, path in csv_files.items()]
    evaluation += ["--text_columns", "headline", "body", "--label_column", "topic", "--report_to", "none"]
    run_classification.main(
        ["--model_name_or_path", str(other_order), "--do_train", "false", "--output_dir", str(tmp_path / "again")]
        + ["--embedding_projection", "false", *evaluation]
    )
    before = pd.read_csv(trained / "predictions.csv")
    after = pd.read_csv(tmp_path / "again" / "predictions.csv")
    assert after["predicted"].tolist() == before["predicted"].tolist()
    assert after.columns.tolist() == before.columns.tolist()  # prob_food, prob_space, prob_sport: the data's order
    np.testing.assert_allclose(after.filter(like="prob_"), before.filter(like="prob_"), atol=1e-6)
