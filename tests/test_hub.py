"""The model resolver: local folders, packaged offline copies, clear errors."""

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from modeling.hub import model_not_found_error, packaged_copy, resolve_model_path
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError


def test_local_folder_is_used_as_is(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny", "bert", ["a b c"])
    assert resolve_model_path(str(folder)) == str(folder)


def test_folder_without_config_is_an_error(tmp_path):
    with pytest.raises(TextclsError, match="has no config.json"):
        resolve_model_path(str(tmp_path))


def test_minilm_hub_id_resolves_to_the_packaged_copy():
    path = resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
    assert path == str(packaged_copy("sentence-transformers/all-MiniLM-L6-v2"))
    # and that folder is MiniLM-L6: it loads, offline, into a 6-layer 384-wide BERT whose tokenizer reads text
    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert (model.config.model_type, model.config.num_hidden_layers, model.config.hidden_size) == ("bert", 6, 384)
    with torch.no_grad():
        hidden = model(**tokenizer(["the rocket reached orbit"], return_tensors="pt")).last_hidden_state
    assert hidden.shape[-1] == 384 and torch.isfinite(hidden).all() and hidden.abs().sum() > 0


def test_other_hub_ids_pass_through_to_transformers():
    assert resolve_model_path("roberta-base") == "roberta-base"


def test_missing_relative_folder_is_reported():
    with pytest.raises(TextclsError, match="model folder not found"):
        resolve_model_path("./no/such/model")


def test_offline_error_says_what_was_tried():
    message = str(model_not_found_error("roberta-base", OSError("not in cache")))
    assert "roberta-base" in message and "offline" in message and "local model folder" in message
