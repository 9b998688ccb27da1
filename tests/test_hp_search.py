"""Sweeps: every W&B sweep YAML is a search our script can run (as `wandb agent` expands its command, and offline
through Optuna), its metric is one our runs log to W&B, and a tiny Optuna search writes a true best_trial.json."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from wandb.sdk.launch.sweeps import utils as sweep_utils

import run_classification
from data_scripts.labels import infer_problem_type
from modeling.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from tests.test_run_classification import TOPICS, config_for, write_splits
from tests.tiny_models import build_tiny_model
from tests.wandb_offline import offline_run
from textcls_errors import TextclsError
from training.arguments import ARGUMENT_CLASSES, ModelArguments, parse_arguments
from training.hp_search import (
    TrialScores,
    check_search_for_problem,
    prepare_search,
    read_search_space,
    rerun_command,
    sweep_run_output_dir,
)
from training.metrics import BEST_MODEL_METRIC

REPO = Path(__file__).resolve().parent.parent
SWEEPS = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
WORD_MODEL_SWEEPS = {"glove_20ng.yaml", "lstm_20ng.yaml"}


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def sweep_problem_type(path: Path) -> str:
    """The problem type of a sweep's run: its config's problem_type, else what its label settings make plain
    (label_columns or label_separator: multi-label; the shipped single-label configs have neither)."""
    config = json.loads((REPO / read_yaml(path)["command"][3]).read_text())
    has_columns, has_separator = bool(config.get("label_columns")), bool(config.get("label_separator"))
    return config.get("problem_type") or infer_problem_type([], has_columns, has_separator)


def agent_command(sweep: dict, values: dict) -> list[str]:
    """The command `wandb agent` runs for these parameter values (as wandb_agent.Agent._command_run builds it)."""
    macros = sweep_utils.create_sweep_command_args({"args": {name: {"value": value} for name, value in values.items()}})
    macros.update(env=["/usr/bin/env"], interpreter=["python"], program=[sweep["program"]])
    command = []
    for piece in sweep_utils.create_sweep_command(sweep["command"]):
        piece = str(piece)
        is_macro = piece.startswith("${") and piece.endswith("}")
        command += macros.get(piece[2:-1]) or [] if is_macro else [piece]
    return command


def corner_values(sweep: dict, end: int) -> dict:
    """Each parameter's first (end=0) or last (end=-1) value: a choice, or an end of its range."""
    values = {}
    for name, spec in sweep["parameters"].items():
        if "value" in spec:
            values[name] = spec["value"]
        elif "values" in spec:
            values[name] = spec["values"][end]
        else:
            values[name] = spec["min"] if end == 0 else spec["max"]
    return values


def setting(parsed, name):
    """A setting's value from parse_arguments' dataclasses."""
    for arguments in parsed:
        if name in {field.name for field in arguments.__dataclass_fields__.values()}:
            return getattr(arguments, name)
    raise KeyError(name)


def test_there_are_transformer_and_word_model_sweeps():
    names = {path.name for path in SWEEPS}
    assert WORD_MODEL_SWEEPS <= names and names - WORD_MODEL_SWEEPS, names
    lora = read_yaml(REPO / "configs" / "sweeps" / "minilm_lora_20ng.yaml")
    assert "lora_r" in lora["parameters"]
    assert {sweep_problem_type(path) for path in SWEEPS} == {SINGLE_LABEL, MULTI_LABEL, REGRESSION}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda path: path.name)
def test_sweep_yaml_is_a_wandb_sweep_of_our_script(path):
    sweep = read_yaml(path)
    assert sweep["program"] == "run_classification.py" and (REPO / sweep["program"]).is_file()
    assert sweep["method"] == "bayes"
    # the metric that picks the best model of the config's problem type (macro-F1, micro-F1, Spearman)
    problem_type = sweep_problem_type(path)
    expected = f"eval/{BEST_MODEL_METRIC[problem_type]}"
    assert sweep["metric"] == {"name": expected, "goal": "maximize"}
    command = sweep["command"]
    assert command[:3] == ["${env}", "${interpreter}", "${program}"] and command[-1] == "${args}"
    assert command[3].endswith(".json") and (REPO / command[3]).is_file(), command[3]
    settings = {f.name for cls in ARGUMENT_CLASSES for f in cls.__dataclass_fields__.values()}
    assert set(sweep["parameters"]) <= settings, set(sweep["parameters"]) - settings
    # wandb reads the YAML with PyYAML, which takes 1e-5 for a string: every bound must be a number
    for spec in sweep["parameters"].values():
        assert all(isinstance(spec[end], (int, float)) for end in ("min", "max") if end in spec), spec
    space = read_search_space(str(path))
    assert space.metric == expected
    check_search_for_problem(space, problem_type)


@pytest.mark.parametrize("end", [0, -1], ids=["low", "high"])
@pytest.mark.parametrize("path", SWEEPS, ids=lambda path: path.name)
def test_agent_command_parses_into_the_swept_settings(path, end, monkeypatch):
    monkeypatch.chdir(REPO)  # the agent runs the command where `wandb agent` was started: the repository
    sweep = read_yaml(path)
    values = corner_values(sweep, end)
    command = agent_command(sweep, values)
    assert command[:3] == ["/usr/bin/env", "python", "run_classification.py"]
    assert f"--{next(iter(values))}={next(iter(values.values()))}" in command  # wandb's --name=value form

    parsed = parse_arguments(command[3:])
    for name, value in values.items():
        assert setting(parsed, name) == pytest.approx(value), name
    base = json.loads((REPO / command[3]).read_text())
    for name, value in base.items():  # the rest of the run is the config's
        if name not in values:
            value = os.path.expandvars(value) if isinstance(value, str) else value  # $TEXTCLS_DATA_DIR in paths
            assert setting(parsed, name) == pytest.approx(value), name
    training_args = parsed[-1]
    assert training_args.report_to == ["wandb"]
    assert not training_args.do_predict and not training_args.embedding_projection


@pytest.mark.parametrize("path", SWEEPS, ids=lambda path: path.name)
def test_every_sweep_also_runs_through_optuna(path, monkeypatch):
    """Each parameter is one a trial can set, and every choice and range end is a valid setting."""
    monkeypatch.chdir(REPO)
    sweep = read_yaml(path)
    argv = [sweep["command"][3], "--hp_search_space", str(path), "--hp_search_trials", "2"]
    space = prepare_search(argv, parse_arguments(argv)[-1])
    assert [parameter.name for parameter in space.parameters] == list(sweep["parameters"])
    model_settings = {"dropout", "hidden_size", "cell", "freeze_embeddings", "lora_r", "lora_alpha", "lora_dropout"}
    assert set(space.model_settings) == model_settings & set(sweep["parameters"])


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    return write_splits(tmp_path_factory.mktemp("csv"), 60, 30, 15)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, csv_files):
    texts = pd.read_csv(csv_files["train"])["body"].tolist()
    torch.manual_seed(0)
    return build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", texts, num_labels=len(TOPICS))


def test_sweep_run_logs_the_metric_the_sweeps_optimise(tmp_path, csv_files, bert_dir):
    """A run started as the agent starts it (the sweep's command, W&B offline) logs eval/macro_f1, has the swept
    values in its W&B config, and writes to a folder of its own."""
    sweep = read_yaml(REPO / "configs" / "sweeps" / "minilm_20ng.yaml")
    values = {"learning_rate": 0.004, "per_device_train_batch_size": 16, "num_train_epochs": 1, "warmup_steps": 0.1}
    command = agent_command(sweep, values)
    command[3] = config_for(tmp_path, bert_dir, csv_files, logging_steps=1)  # a tiny model, not MiniLM on 20NG
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(tmp_path), WANDB_PROJECT="textcls-test")
    env.update(WANDB_SWEEP_ID="sweep123", WANDB_RUN_ID="run456")  # what the agent sets for each run
    finished = subprocess.run(
        [sys.executable, *command[2:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert finished.returncode == 0, finished.stderr[-3000:]

    _, rows = offline_run(tmp_path)
    logged = {key for row in rows for key in row}
    single_label_sweeps = [path for path in SWEEPS if sweep_problem_type(path) == SINGLE_LABEL]
    assert {path.name for path in SWEEPS} - {path.name for path in single_label_sweeps} == {
        "minilm_semeval_ec.yaml",  # multi-label
        "minilm_stsb.yaml",  # regression
    }
    for path in single_label_sweeps:  # this run is single-label, as the 20NG sweeps' runs are
        assert read_yaml(path)["metric"]["name"] in logged, (path.name, sorted(logged))
    run_dir = tmp_path / "out" / "sweep-sweep123" / "run456"
    assert (run_dir / "eval_results.json").is_file() and not (run_dir / "predictions.csv").exists()
    state = json.loads((run_dir / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 16 and state["num_train_epochs"] == 1
    learning_rates = [entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry]
    assert max(learning_rates) <= 0.004 and max(learning_rates) > 0.002  # warm-up to the swept rate, then decay


def tiny_search_space(tmp_path, word_model: bool) -> Path:
    """A sweep YAML sized for tiny models: the same form as configs/sweeps, ranges that learn in two epochs."""
    parameters = {
        "learning_rate": {"distribution": "log_uniform_values", "min": 3.0e-3, "max": 3.0e-2},
        "per_device_train_batch_size": {"values": [8, 16]},
        "num_train_epochs": {"distribution": "int_uniform", "min": 1, "max": 2},
    }
    if word_model:
        parameters |= {"dropout": {"min": 0.0, "max": 0.5}, "hidden_size": {"values": [8, 16]}}
    else:
        parameters |= {"lora_r": {"values": [2, 4]}, "lora_dropout": {"min": 0.0, "max": 0.2}}
    path = tmp_path / "space.yaml"
    sweep = {"program": "run_classification.py", "method": "bayes", "parameters": parameters}
    path.write_text(yaml.safe_dump(sweep | {"metric": {"name": "eval/macro_f1", "goal": "maximize"}}))
    return path


@pytest.mark.parametrize("word_model", [False, True], ids=["lora", "lstm"])
def test_optuna_search_writes_the_best_trial(word_model, tmp_path, csv_files, bert_dir, monkeypatch, caplog):
    space_path = tiny_search_space(tmp_path, word_model)
    space = read_search_space(str(space_path))
    if word_model:
        model = {"model_name_or_path": None, "model_type": "lstm", "word_vectors": "random", "embedding_dim": 8}
    else:
        model = {"use_lora": True}
    config = config_for(tmp_path, bert_dir, csv_files, **model)
    built = []  # the model settings of every model built: the first for the tokenizer, then one per trial
    build_model = run_classification.build_model

    def recording_build_model(model_args, *rest):
        built.append(model_args)
        return build_model(model_args, *rest)

    monkeypatch.setattr(run_classification, "build_model", recording_build_model)
    caplog.set_level("INFO")
    argv = [config, "--hp_search_space", str(space_path), "--hp_search_trials", "2"]
    results = run_classification.main(argv)

    out = tmp_path / "out"
    best = json.loads((out / "best_trial.json").read_text())
    assert [trial["trial"] for trial in best["trials"]] == ["trial-0", "trial-1"]
    for trial in best["trials"]:
        assert trial["parameters"].keys() == {parameter.name for parameter in space.parameters}
        for parameter in space.parameters:
            value = trial["parameters"][parameter.name]
            assert value in parameter.choices if parameter.choices else parameter.low <= value <= parameter.high
        assert len(trial["evaluations"]) == trial["parameters"]["num_train_epochs"]  # one per epoch
        assert trial["score"] == max(trial["evaluations"])
    best_trial = next(trial for trial in best["trials"] if trial["trial"] == best["trial"])
    assert best["score"] == best_trial["score"] == max(trial["score"] for trial in best["trials"])
    assert best["parameters"] == best_trial["parameters"]
    assert results["best_eval_macro_f1"] == best["score"]

    # the model settings each trial picked reached the model it trained
    model_settings = ["dropout", "hidden_size"] if word_model else ["lora_r", "lora_dropout"]
    assert len(built) == 3
    for model_args, trial in zip(built[1:], best["trials"], strict=True):
        assert {name: getattr(model_args, name) for name in model_settings} == {
            name: trial["parameters"][name] for name in model_settings
        }
    # trials keep no checkpoints and do not read the test split; the log tells how to train the best settings
    assert sorted(path.name for path in out.iterdir()) == ["best_trial.json"]
    assert best["command"] in caplog.text
    rerun = shlex.split(best["command"])
    assert rerun[:3] == ["python", "run_classification.py", config]
    parsed = parse_arguments(rerun[2:])
    assert parsed[-1].hp_search_trials == 0
    for name, value in best["parameters"].items():
        assert setting(parsed, name) == pytest.approx(value), name


def test_a_trial_scores_its_best_evaluation_not_its_last():
    scores = TrialScores("eval_macro_f1", "maximize")
    state = type("State", (), {"trial_name": "trial-0", "trial_params": {"learning_rate": 0.1}})()
    scores.on_train_begin(None, state, None)
    for value in (0.2, 0.6, 0.4):
        scores.on_evaluate(None, state, None, metrics={"eval_macro_f1": value, "eval_loss": 1.0})
        objective = scores({"eval_macro_f1": value, "eval_loss": 1.0})
    assert objective == 0.6
    loss = TrialScores("eval_loss", "minimize")
    loss.on_train_begin(None, state, None)
    for value in (0.9, 0.5, 0.7):
        loss.on_evaluate(None, state, None, metrics={"eval_loss": value})
    assert loss({"eval_loss": 0.7}) == 0.5


def test_rerun_command_drops_the_search_and_adds_the_best_settings(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_name_or_path": "m", "output_dir": str(tmp_path), "hp_search_trials": 5}))
    command = rerun_command(
        [str(config), "--hp_search_space", "x.yaml", "--hp_search_trials=5", "--seed", "3", "--learning_rate", "1"],
        {"learning_rate": 0.001, "freeze_embeddings": True},
    )
    assert shlex.split(command) == [  # the given --learning_rate 1 is replaced, not left beside the best value
        "python", "run_classification.py", str(config), "--seed", "3",
        "--learning_rate=0.001", "--freeze_embeddings=True", "--hp_search_trials=0",
    ]  # fmt: skip


def test_sweep_runs_get_a_folder_each(monkeypatch):
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    assert sweep_run_output_dir("outputs/x") == "outputs/x"
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc")
    monkeypatch.setenv("WANDB_RUN_ID", "r1")
    assert Path(sweep_run_output_dir("outputs/x")) == Path("outputs/x/sweep-abc/r1")


def write_space(tmp_path, parameters, **sweep) -> str:
    path = tmp_path / "space.yaml"
    settings = {"method": "bayes", "metric": {"name": "eval/macro_f1", "goal": "maximize"}, "parameters": parameters}
    path.write_text(yaml.safe_dump(settings | sweep))
    return str(path)


LEARNING_RATE = {"learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-5, "max": 1.0e-3}}


@pytest.mark.parametrize(
    ("parameters", "sweep", "message"),
    [
        ({"lerning_rate": {"values": [0.1]}}, {}, "unknown parameter 'lerning_rate' \\(did you mean 'learning_rate'"),
        ({"max_seq_length": {"values": [64, 128]}}, {}, "an Optuna trial cannot change max_seq_length"),
        ({"per_device_train_batch_size": {"values": [8, "big"]}}, {}, "size='big' is not a valid.*invalid int"),
        ({"cell": {"values": ["lstm", "transformer"]}}, {}, "cell='transformer' is not a valid setting.*one of lstm"),
        ({"learning_rate": {"min": "1e-5", "max": 0.1}}, {}, "write 1.0e-5"),
        ({"dropout": {"distribution": "normal", "mu": 0.1, "sigma": 0.1}}, {}, "'normal' has no Optuna counterpart"),
        ({"dropout": {"values": [0.1], "probabilities": [1.0]}}, {}, "probabilities not understood here"),
        ({"dropout": {"distribution": "beta", "min": 0.1, "max": 0.2}}, {}, "'beta' has no Optuna counterpart"),
        ({"dropout": {"min": 0.5, "max": 0.1}}, {}, "min 0.5 is above max 0.1"),
        (LEARNING_RATE, {"metric": {"name": "eval/f1", "goal": "maximize"}}, "'eval/f1' is not logged by our runs"),
        (LEARNING_RATE, {"metric": {"name": "eval/macro_f1", "goal": "up"}}, "goal must be maximize or minimize"),
        (LEARNING_RATE, {"method": "grid"}, "method grid needs a list of values for every parameter; learning_rate"),
    ],
)
def test_bad_search_spaces_are_named(parameters, sweep, message, tmp_path):
    path = write_space(tmp_path, parameters, **sweep)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_name_or_path": "m", "train_file": "absent.csv", "output_dir": str(tmp_path)}))
    argv = [str(config), "--hp_search_space", path, "--hp_search_trials", "2"]
    with pytest.raises(TextclsError, match=message) as direct:
        prepare_search(argv, parse_arguments(argv)[-1])
    with pytest.raises(TextclsError) as through_the_script:
        run_classification.main(argv)
    # the script stops with the same whole message, before reading the (absent) data
    assert str(through_the_script.value) == str(direct.value)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--hp_search_trials", "3"], "hp_search_trials=3 needs hp_search_space"),
        (["--hp_search_trials", "-1"], "expected 0 \\(no search\\)"),
        (["--hp_search_trials", "2", "--hp_search_space", "s.yaml", "--do_train", "false"], "do_train=False"),
        (["--hp_search_trials", "2", "--hp_search_space", "absent.yaml"], "hp_search_space: no such file"),
    ],
)
def test_bad_search_settings_are_named(flags, message, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_name_or_path": "m", "train_file": "absent.csv", "output_dir": str(tmp_path)}))
    with pytest.raises(TextclsError, match=message):
        run_classification.main([str(config), *flags])


def test_every_parameter_is_drawn_in_hp_space_so_other_ranks_can_build_the_model():
    # Under several processes the Trainer draws hp_space on rank 0 and hands the others only trial.params (as an
    # optuna FixedTrial): a model setting first drawn in model_init would be missing there.
    import optuna

    space = read_search_space(str(REPO / "configs" / "sweeps" / "minilm_lora_20ng.yaml"))
    trial = optuna.create_study(sampler=space.sampler(seed=0)).ask()
    training_values = space.training_values(trial)
    assert set(trial.params) == {parameter.name for parameter in space.parameters}
    assert not set(training_values) & set(space.model_settings) and "lora_r" in space.model_settings
    replica = optuna.trial.FixedTrial(trial.params)
    assert space.training_values(replica) == training_values
    assert (
        space.model_arguments(ModelArguments(model_name_or_path="prajjwal1/bert-tiny", use_lora=True), replica).lora_r
        == trial.params["lora_r"]
    )


def sweep_file(tmp_path: Path, metric: str, goal: str = "maximize", **parameters) -> str:
    path = tmp_path / "sweep.yaml"
    specs = parameters or {"learning_rate": {"values": [1.0e-4]}}
    path.write_text(yaml.safe_dump({"method": "bayes", "metric": {"name": metric, "goal": goal}, "parameters": specs}))
    return str(path)


def test_sweeps_are_checked_against_the_problem_type(tmp_path):
    """Metric names per problem type, goals that match them, and parameters a problem type has no use for."""
    check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/micro_f1")), MULTI_LABEL)
    check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/rmse", "minimize")), REGRESSION)
    with pytest.raises(TextclsError, match="eval/micro_f1 is not reported by a regression run; its evaluations log "
                       "eval/loss, eval/mse, eval/rmse, eval/mae, eval/pearson, eval/spearman"):  # fmt: skip
        check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/micro_f1")), REGRESSION)
    with pytest.raises(TextclsError, match="not reported by a single_label_classification run"):
        check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/spearman")), SINGLE_LABEL)
    with pytest.raises(TextclsError, match="goal maximize for eval/hamming_loss, which is better lower"):
        check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/hamming_loss")), MULTI_LABEL)
    weights = {"class_weights": {"values": ["balanced", "none"]}}
    with pytest.raises(TextclsError, match="class_weights sweep over a regression run cannot work"):
        check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/spearman", **weights)), REGRESSION)
    smoothing = {"label_smoothing_factor": {"values": [0.0, 0.1]}}
    with pytest.raises(TextclsError, match="label_smoothing_factor smooths class targets"):
        check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/spearman", **smoothing)), REGRESSION)
    strategy = {"threshold_strategy": {"values": ["global", "per_label"]}}
    with pytest.raises(TextclsError, match="threshold_strategy tunes multi-label decision thresholds"):
        check_search_for_problem(read_search_space(sweep_file(tmp_path, "eval/macro_f1", **strategy)), SINGLE_LABEL)


def test_an_optuna_trial_refuses_settings_it_would_ignore(tmp_path, csv_files):
    """class_weights live in the model's config before the trials; thresholds are tuned after training."""
    for name, values in (("class_weights", ["balanced", "none"]), ("threshold_strategy", ["global", "per_label"])):
        space = sweep_file(tmp_path, "eval/macro_f1", **{name: {"values": values}})
        argv = ["--model_type", "glove", "--train_file", str(csv_files["train"]), "--output_dir", str(tmp_path / "out"),
                "--hp_search_space", space, "--hp_search_trials", "2"]  # fmt: skip
        with pytest.raises(TextclsError, match=f"an Optuna trial cannot change {name}: .*wandb agent"):
            prepare_search(argv, parse_arguments(argv)[-1])
