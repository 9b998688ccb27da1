"""push_to_hub through run_classification.py, with huggingface_hub's two network calls (HfApi.create_repo and
HfApi.create_commit) replaced by a fake Hub that keeps the committed files: the exact files, a card with no local
path or token, and a downloaded copy that predicts what the run predicted."""

import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub.hf_api
import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import CommitInfo, HfApi, ModelCard, RepoUrl
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

import modeling.hub
import run_classification
from inference import TextClassifier
from tests.test_run_classification import config_for, write_splits
from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError
from training.hub_push import push_run

TOKEN = "hf_notARealTokenButLongEnough123"
REPO_ID = "someone/tiny-topics"
COMMON = {
    "README.md",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
    "test_results.json",
    "classification_report.json",
    "classification_report.txt",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "confusion_matrix.png",
    "training_curves.png",
    "embeddings_tsne.png",
}
EXPECTED_FILES = {
    "transformer": COMMON | {"model.safetensors"},
    "glove": COMMON | {"model.safetensors", "configuration_glove.py", "modeling_glove.py"},
    "lstm": COMMON | {"model.safetensors", "configuration_lstm.py", "modeling_lstm.py"},
    "lora": COMMON | {"adapter_config.json", "adapter_model.safetensors"},
    "lora-merged": COMMON | {"model.safetensors"},
}
BASE_ID = "someone/tiny-bert"  # the backbone's hub id, served offline from the tiny model's folder
SETTINGS = {
    "transformer": {},
    "glove": {"model_type": "glove", "word_vectors": "random", "embedding_dim": 16, "learning_rate": 0.05},
    "lstm": {"model_type": "lstm", "word_vectors": "random", "embedding_dim": 16, "hidden_size": 16, "cell": "gru"},
    "lora": {"use_lora": True, "learning_rate": 1e-2, "model_name_or_path": BASE_ID},
    "lora-merged": {"use_lora": True, "merge_lora": True, "learning_rate": 1e-2},
}


class FakeHub:
    """Stands in for the Hub: records create_repo, and keeps each commit's files in a folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.repos: list[dict] = []
        self.commits: list[dict] = []

    def create_repo(self, api, repo_id, *, private=None, exist_ok=False, **kwargs):
        self.repos.append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok, "token": api.token})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, api, repo_id, operations, *, commit_message, revision=None, **kwargs):
        self.commits.append({"repo_id": repo_id, "token": api.token, "revision": revision, "files": []})
        for operation in operations:
            target = self.folder / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(operation.path_or_fileobj, target)
            self.commits[-1]["files"].append(operation.path_in_repo)
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{'0' * 40}",
            commit_message=commit_message,
            commit_description="",
            oid="0" * 40,
        )


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A fake Hub, and a process that may reach it: the offline switches of conftest are lifted for this test
    (huggingface_hub read them at import, so any call not faked here still fails instead of going out)."""
    hub = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(HfApi, "create_repo", lambda api, *args, **kwargs: hub.create_repo(api, *args, **kwargs))
    monkeypatch.setattr(HfApi, "create_commit", lambda api, *args, **kwargs: hub.create_commit(api, *args, **kwargs))
    # upload_folder lists and filters the files itself, then commits them with create_commit (with hf_xet installed
    # it would stream them to the network in its own way instead).
    monkeypatch.setattr(huggingface_hub.hf_api, "is_xet_available", lambda: False)
    monkeypatch.setattr(HfApi, "_validate_yaml", lambda api, content, **kwargs: None)  # the Hub checks the card
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return hub


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 150, 30, 30)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, csv_files):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    torch.manual_seed(0)
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", texts, num_labels=3)


@pytest.fixture
def backbone(tiny_bert, monkeypatch):
    """The tiny BERT's folder, which BASE_ID also resolves to (as a packaged offline copy would)."""
    monkeypatch.setattr(modeling.hub, "packaged_copy", lambda name: tiny_bert if name == BASE_ID else None)
    return tiny_bert


def run_with_push(tmp_path, csv_files, backbone, family: str, *flags: str) -> Path:
    settings = dict(SETTINGS[family], num_train_epochs=3, embedding_sample_size=30)
    if "model_type" in settings:
        settings["model_name_or_path"] = None
    config = config_for(tmp_path, backbone, csv_files, **settings)
    push = ["--push_to_hub", "true", "--hub_model_id", REPO_ID, "--hub_private_repo", "true", "--hub_token", TOKEN]
    run_classification.main([config, *push, *flags])
    return tmp_path / "out"


@pytest.mark.parametrize("family", ["transformer", "glove", "lstm", "lora", "lora-merged"])
def test_push_uploads_the_model_its_card_and_code_and_the_copy_predicts_alike(
    family, tmp_path, csv_files, backbone, fake_hub, caplog, capsys
):
    caplog.set_level(logging.INFO)
    out = run_with_push(tmp_path, csv_files, backbone, family)

    assert fake_hub.repos == [{"repo_id": REPO_ID, "private": True, "exist_ok": True, "token": TOKEN}]
    assert len(fake_hub.commits) == 1, "one commit at the end; the Trainer pushed nothing by itself"
    commit = fake_hub.commits[0]
    assert (commit["repo_id"], commit["token"]) == (REPO_ID, TOKEN)
    assert set(commit["files"]) == EXPECTED_FILES[family]

    hub = fake_hub.folder
    # The card that went up is ours (not the Trainer's, nor peft's template).
    card = ModelCard.load(hub / "README.md")
    assert (hub / "README.md").read_text() == (out / "README.md").read_text()
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.library_name == ("peft" if family == "lora" else "transformers")
    if family == "lora":
        assert card.data.base_model == BASE_ID
        assert json.loads((hub / "adapter_config.json").read_text())["base_model_name_or_path"] == BASE_ID
    assert f'"{REPO_ID}"' in card.text  # the loading code names the repository

    # No path of this machine, and the token nowhere: not in a pushed file, not in the logs.
    forbidden = [str(tmp_path), str(Path.home()), "/tmp/", TOKEN]
    for path in hub.iterdir():
        if path.suffix in (".json", ".md", ".txt", ".py"):
            text = path.read_text()
            for value in forbidden:
                assert value not in text, (path.name, value)
    logs = caplog.text + capsys.readouterr().out
    assert TOKEN not in logs
    # nor in any file the run wrote, training_args.bin of output_dir and of the checkpoints included
    written = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.name == "training_args.bin" for path in written)
    assert [path for path in written if TOKEN.encode() in path.read_bytes()] == []
    assert f"Pushed {len(EXPECTED_FILES[family])} files" in caplog.text

    # The downloaded copy predicts what the run predicted, row by row.
    expected = pd.read_csv(out / "predictions.csv")
    columns = [column for column in expected if column.startswith("prob_")]
    predicted = TextClassifier(hub).predict_proba(expected["text"].tolist())
    np.testing.assert_allclose(predicted, expected[columns].to_numpy(), atol=1e-5)
    if family == "transformer":  # and the plain Auto classes read the copy as they read the run's folder
        texts = expected["text"].tolist()[:8]
        logits = []
        for folder in (out, hub):
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
            with torch.no_grad():
                logits.append(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits)
        assert torch.equal(logits[0], logits[1])


def test_offline_push_is_refused_before_training(tmp_path, csv_files, backbone):
    config = config_for(tmp_path, backbone, csv_files)
    with pytest.raises(TextclsError, match="HF_HUB_OFFLINE"):
        run_classification.main([config, "--push_to_hub", "true", "--hub_model_id", REPO_ID])
    assert not (tmp_path / "out").exists()


def test_a_refused_login_is_one_clear_error_before_training(tmp_path, csv_files, backbone, monkeypatch):
    import httpx

    def unauthorized(api, repo_id, **kwargs):
        response = httpx.Response(401, request=httpx.Request("POST", "https://huggingface.co/api/repos/create"))
        from huggingface_hub.errors import HfHubHTTPError

        raise HfHubHTTPError("401 Unauthorized: invalid credentials", response=response)

    monkeypatch.setattr(HfApi, "create_repo", unauthorized)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    config = config_for(tmp_path, backbone, csv_files)
    with pytest.raises(TextclsError, match="hf auth login") as error:
        run_classification.main([config, "--push_to_hub", "true", "--hub_model_id", REPO_ID, "--hub_token", TOKEN])
    assert TOKEN not in str(error.value) and "someone/tiny-topics" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_an_adapter_on_a_local_backbone_is_not_pushed(tmp_path, csv_files, backbone, fake_hub):
    config = config_for(tmp_path, backbone, csv_files, use_lora=True)
    with pytest.raises(TextclsError, match="merge_lora"):
        run_classification.main([config, "--push_to_hub", "true", "--hub_model_id", REPO_ID])
    assert fake_hub.repos == [] and not (tmp_path / "out").exists()


def test_a_run_that_trains_nothing_pushes_nothing(tmp_path, csv_files, backbone, fake_hub):
    config = config_for(tmp_path, backbone, csv_files)
    with pytest.raises(TextclsError, match="do_train is false"):
        run_classification.main([config, "--push_to_hub", "true", "--do_train", "false"])
    assert fake_hub.repos == []


def test_with_save_on_each_node_only_the_global_main_process_creates_the_repository(
    tmp_path, csv_files, backbone, fake_hub, monkeypatch
):
    """Node 1's main process (global rank 1, local rank 0) saves its node's copy with save_on_each_node, but makes
    no repository and pushes nothing: the global main process does both, once."""
    monkeypatch.setattr(TrainingArguments, "process_index", property(lambda args: 1))
    quick = ["--num_train_epochs", "1", "--embedding_projection", "false", "--do_predict", "false"]
    out = run_with_push(tmp_path, csv_files, backbone, "transformer", "--save_on_each_node", "true", *quick)
    assert fake_hub.repos == [] and fake_hub.commits == []
    assert (out / "model.safetensors").is_file()  # its node's copy


def test_checkpoint_pushes_are_refused(tmp_path, csv_files, backbone):
    config = config_for(tmp_path, backbone, csv_files)
    with pytest.raises(TextclsError, match="hub_strategy='checkpoint'"):
        run_classification.main([config, "--push_to_hub", "true", "--hub_strategy", "checkpoint"])


def test_an_unreachable_hub_is_one_clear_error_before_training(tmp_path, csv_files, backbone, monkeypatch):
    import httpx2  # huggingface_hub's HTTP client: a failed connection raises its errors, not HfHubHTTPError

    def unreachable(api, repo_id, **kwargs):
        raise httpx2.ConnectError("[Errno 111] Connection refused")

    monkeypatch.setattr(HfApi, "create_repo", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    config = config_for(tmp_path, backbone, csv_files)
    with pytest.raises(TextclsError, match="Connection refused"):
        run_classification.main([config, "--push_to_hub", "true", "--hub_model_id", REPO_ID])
    assert not (tmp_path / "out").exists()


def test_a_w_and_b_sweep_run_does_not_push(tmp_path, csv_files, backbone, fake_hub, monkeypatch):
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    monkeypatch.setenv("WANDB_RUN_ID", "run1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    config = config_for(tmp_path, backbone, csv_files)
    with pytest.raises(TextclsError, match="W&B sweep"):
        run_classification.main([config, "--push_to_hub", "true", "--hub_model_id", REPO_ID])


def saved_run(folder: Path) -> Path:
    """A run folder as training leaves it: model files, files that stay local, and a checkpoint."""
    for name in ("config.json", "tokenizer.json", "all_results.json"):
        (folder / name).write_text("{}")
    for name in ("model.safetensors", "training_args.bin", "predictions.csv", "trainer_state.json"):
        (folder / name).write_bytes(b"local")
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "config.json").write_text("{}")
    return folder


def test_push_run_uploads_only_the_shared_files_to_the_revision(tmp_path, fake_hub):
    run = saved_run(tmp_path)
    args = SimpleNamespace(output_dir=str(run), hub_token=TOKEN, hub_revision="v1")
    push_run(args, REPO_ID)
    assert [(c["repo_id"], c["revision"], c["token"]) for c in fake_hub.commits] == [(REPO_ID, "v1", TOKEN)]
    shared = ["all_results.json", "config.json", "model.safetensors", "tokenizer.json"]
    assert sorted(fake_hub.commits[0]["files"]) == shared


def test_an_unreadable_local_file_is_not_called_an_upload_failure(tmp_path, fake_hub, monkeypatch):
    run = saved_run(tmp_path)

    def unreadable(api, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(run / "model.safetensors"))

    monkeypatch.setattr(HfApi, "create_commit", unreadable)
    args = SimpleNamespace(output_dir=str(run), hub_token=TOKEN, hub_revision=None)
    with pytest.raises(TextclsError) as error:
        push_run(args, REPO_ID)
    assert str(error.value).startswith(f"cannot read {run / 'model.safetensors'} to upload it to {REPO_ID}")
    assert "upload to" not in str(error.value) and "failed" not in str(error.value)
