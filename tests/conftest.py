"""Shared fixtures: every test runs offline, with HF caches and W&B inside a temporary folder."""

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch):
    """Keep caches, W&B files and network access out of the user's home and off the network."""
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(home / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def data_dir() -> Path:
    """The real corpora (../shared/data); integration tests need them and say so when missing."""
    value = os.environ.get("TEXTCLS_DATA_DIR")
    if not value:
        pytest.skip("integration test: set TEXTCLS_DATA_DIR to the shared data folder (make test does)")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"TEXTCLS_DATA_DIR={value} is not a directory")
    return path
