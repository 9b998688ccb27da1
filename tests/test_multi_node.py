"""Two "machines" on this one: two `torchrun --nnodes 2 --node_rank 0/1` launches of one process each, meeting on
127.0.0.1 (gloo, CPU). Each node has its own datasets/HF cache, as machines that share no disk; the output folder
is shared. One launch pair serves all the tests: caches made once per node, every document evaluated once, only the
global main process writes, and the numbers of one process training on the same global batch."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file

import run_classification
from tests.test_run_classification import TOPICS, write_splits

REPO = Path(__file__).resolve().parent.parent
TRAIN, VALIDATION, TEST = 96, 45, 31  # odd evaluation sets: two processes cannot split them evenly
PER_DEVICE_BATCH = 8  # 2 nodes x 8 = one process with 16; 96 rows make whole global batches
NODES = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def word_model_config(root: Path, csv_files: dict[str, Path], **overrides) -> str:
    """A tiny GloVe model with random vectors, without randomness besides the seed: no dropout, random batches."""
    settings = {
        "model_type": "glove",
        "embedding_init": "random",
        "embedding_dim": 16,
        "dropout": 0.0,
        "train_file": str(csv_files["train"]),
        "validation_file": str(csv_files["validation"]),
        "test_file": str(csv_files["test"]),
        "text_columns": ["headline", "body"],
        "label_column": "topic",
        "output_dir": str(root / "out"),
        "max_seq_length": 32,
        "learning_rate": 5e-2,
        "per_device_train_batch_size": PER_DEVICE_BATCH,
        "per_device_eval_batch_size": 4,
        "num_train_epochs": 2,
        "warmup_steps": 0,
        "logging_steps": 1,
        "train_sampling_strategy": "random",
        "embedding_sample_size": VALIDATION,
        "report_to": "none",
        "seed": 7,
    }
    settings.update(overrides)
    path = root / "config.json"
    path.write_text(json.dumps(settings))
    return str(path)


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), TRAIN, VALIDATION, TEST)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory, csv_files):
    """Start node 1, then node 0, with the same command but --node_rank; each node's files are listed by rank."""
    root = tmp_path_factory.mktemp("nodes")
    audit = tmp_path_factory.mktemp("audit")
    config = word_model_config(root, csv_files)
    port = free_port()
    launches = []
    for node in reversed(range(NODES)):
        home = root / f"node{node}"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "process_audit"), str(REPO)]),
            TEXTCLS_AUDIT_ROOT=str(root),
            TEXTCLS_AUDIT_DIR=str(audit),
            HF_HOME=str(home / "hf"),
            HF_DATASETS_CACHE=str(home / "hf" / "datasets"),
            OMP_NUM_THREADS="1",
        )
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(NODES), "--node_rank", str(node)]
        command += ["--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", str(port)]
        command += [str(REPO / "run_classification.py"), config, "--cache_dir", str(home / "cache")]
        launches.append(
            subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = []
    for launch in launches:
        try:
            stdout, stderr = launch.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            for other in launches:
                other.kill()
            raise
        outputs.append((launch.returncode, stdout, stderr))
    for code, stdout, stderr in outputs:
        assert code == 0, stdout[-2000:] + stderr[-3000:]

    def changes(rank: int) -> list[str]:
        log = audit / f"rank-{rank}.tsv"
        lines = log.read_text().splitlines() if log.exists() else []
        return [line for line in lines if not line.endswith(".lock")]

    node1, node0 = outputs
    return SimpleNamespace(
        root=root, out=root / "out", config=config, changes=changes, stdout=[node0[1], node1[1]],
        stderr=[node0[2], node1[2]],
    )  # fmt: skip


def test_both_nodes_join_one_process_group(two_nodes):
    assert "process rank 0 of 2, device cpu" in two_nodes.stdout[0]
    assert "process rank 1 of 2, device cpu" in two_nodes.stdout[1]


def test_each_node_prepares_its_own_cache_once(two_nodes):
    """Node R's only process is its local main: it reads, tokenizes and caches into node R's folder, once."""
    for rank in range(NODES):
        cache = two_nodes.root / f"node{rank}" / "cache"
        moved = [
            Path(line.split(" -> ")[-1]).name.split("-")[0]
            for line in two_nodes.changes(rank)
            if line.startswith("rename") and str(cache / "textcls_maps") in line
        ]
        assert sorted(moved) == ["test", "train", "validation"], (rank, two_nodes.changes(rank))
        other = two_nodes.root / f"node{1 - rank}"
        assert not [line for line in two_nodes.changes(rank) if str(other) in line]  # never the other node's disk
        assert len(re.findall(r"Tokenizing:\s+0%", two_nodes.stderr[rank])) == 3


def test_only_the_global_main_process_writes_the_shared_folder(two_nodes):
    """Files written from C++ (torch.save, safetensors, tokenizer.json) escape the audit; config.json shows them."""
    shared = str(two_nodes.out)
    assert [line for line in two_nodes.changes(1) if shared in line] == []
    written = [line.split("\t")[1] for line in two_nodes.changes(0) if line.startswith("write")]
    for name in ("config.json", "tokenizer_config.json", "predictions.csv", "README.md"):
        assert written.count(str(two_nodes.out / name)) == 1, name
    assert str(two_nodes.out / "all_results.json") in written  # updated after training, evaluation and test


def test_every_document_evaluated_once_with_the_numbers_of_one_process(two_nodes, csv_files, tmp_path):
    results = json.loads((two_nodes.out / "all_results.json").read_text())
    assert results["eval_samples"] == VALIDATION and results["test_samples"] == TEST
    predictions = pd.read_csv(two_nodes.out / "predictions.csv")
    test = pd.read_csv(csv_files["test"])
    assert predictions["gold"].tolist() == test["topic"].tolist()
    assert json.loads((two_nodes.out / "embedding_separation.json").read_text())["documents"] == VALIDATION

    # One process, the same global batch (2 x 8): the same optimizer steps on the same rows.
    single = run_classification.main(
        [
            two_nodes.config,
            "--per_device_train_batch_size", str(NODES * PER_DEVICE_BATCH),
            "--output_dir", str(tmp_path / "single"),
            "--cache_dir", str(tmp_path / "cache"),
        ]
    )  # fmt: skip
    assert results["train_samples"] == single["train_samples"] == TRAIN
    for split in ("eval", "test"):
        for metric in ("loss", "accuracy", "macro_f1"):
            assert results[f"{split}_{metric}"] == pytest.approx(single[f"{split}_{metric}"], abs=1e-4), metric
    one_process = pd.read_csv(tmp_path / "single" / "predictions.csv")
    probabilities = [f"prob_{name}" for name in sorted(TOPICS)]
    assert (one_process[probabilities] - predictions[probabilities]).abs().to_numpy().max() < 1e-4


def test_the_multi_node_accelerate_config_is_one_accelerate_reads():
    path = REPO / "configs" / "accelerate" / "multi_node.yaml"
    config = load_config_from_file(str(path))
    assert config.num_machines == 2 and config.num_processes % config.num_machines == 0
    assert config.main_process_ip and config.main_process_port and config.machine_rank == 0
    assert yaml.safe_load(path.read_text())["distributed_type"] == "MULTI_GPU"
