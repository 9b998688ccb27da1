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


# Tiny models run faster on one intra-op thread: a second one only adds synchronisation to millisecond operations,
# and stalls whenever the cores are shared (a tiny BERT's 30-step run: 3.8 s on one thread, 8 to 53 s on two, on
# 2 loaded cores). Integration tests (real corpora, MiniLM) keep the machine's threads.
_MACHINE_THREADS: list[int] = []


@pytest.fixture(scope="session", autouse=True)
def one_intra_op_thread():
    """One torch thread for the session, and OMP_NUM_THREADS=1 for the scripts tests start (module fixtures
    included: a session fixture is set up before them)."""
    import torch

    _MACHINE_THREADS.append(torch.get_num_threads())
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(_MACHINE_THREADS[0])
    if before is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = before


@pytest.fixture(autouse=True)
def intra_op_threads_per_test(request, monkeypatch, one_intra_op_thread):
    """Back to one thread after every test (serving code sets its own), the machine's for integration tests."""
    import torch

    if request.node.get_closest_marker("integration"):
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(_MACHINE_THREADS[0])
    else:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)
