"""Shared fixtures: every test runs offline, with HF caches and W&B inside a temporary folder.

The variables are set when this file is imported, before any test module imports transformers or
huggingface_hub, because those libraries read them once at import time.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="textcls-tests-"))
os.environ.update(
    {
        "HF_HOME": str(_SANDBOX / "hf_home"),
        "HF_DATASETS_CACHE": str(_SANDBOX / "hf_home" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(_SANDBOX / "wandb"),
        "WANDB_SILENT": "true",
        "TOKENIZERS_PARALLELISM": "false",
    }
)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SANDBOX, ignore_errors=True)


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
