"""Hyperparameter search from one definition: a W&B sweep YAML (configs/sweeps/) that `wandb agent` runs, and that
`--hp_search_space X.yaml --hp_search_trials N` runs offline with Optuna through `Trainer.hyperparameter_search`.

The YAML's parameters are settings of run_classification.py under their own names; its distributions translate to
Optuna suggestions as W&B defines them (`values` categorical, `value` constant, `min`/`max` uniform over ints or
floats, `log_uniform_values`, `q_uniform`). A trial sets the TrainingArguments among them on the Trainer, and the
model settings (dropout, LoRA rank, ...) through `model_init`, which builds each trial's model.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainerCallback
from transformers.trainer_utils import SaveStrategy

from modeling import problem_types
from textcls_errors import TextclsError
from training.arguments import (
    ARGUMENT_CLASSES,
    ModelArguments,
    TextclsTrainingArguments,
    parse_arguments,
    read_config,
)

logger = logging.getLogger(__name__)

# Model settings a trial may change: model_init builds every trial's model from them. Other model and data settings
# (vocabulary, max_seq_length, text cleaning, ...) shape the tokenizer and the tokenized splits, made once.
TRIAL_MODEL_SETTINGS = (
    "dropout", "embedding_dropout", "freeze_embeddings", "cell", "hidden_size", "num_layers", "bidirectional",
    "pooling", "lora_r", "lora_alpha", "lora_dropout", "classifier_dropout",
)  # fmt: skip
# TrainingArguments a trial must not change: they decide what the search is, or where it writes.
FIXED_DURING_SEARCH = (
    "output_dir", "do_train", "do_eval", "do_predict", "hp_search_space", "hp_search_trials",
    "resume_from_checkpoint", "push_to_hub", "report_to", "embedding_projection",
)  # fmt: skip
# Settings of the problem that an Optuna trial would ignore: why (wandb agent starts a fresh run per setting).
FIXED_PROBLEM_SETTINGS = {
    "class_weights": "the weights are resolved once, from the training labels, into the model's config before the "
    "trials start, and every trial's model is built from that config",
    "threshold_strategy": "multi-label thresholds are tuned once after training, not in a trial: a trial is scored "
    "with the thresholds of the config (0.5)",
}
METHODS = ("bayes", "random", "grid")
GOALS = ("maximize", "minimize")
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "log_uniform_values", "q_uniform")
SPEC_KEYS = {"distribution", "value", "values", "min", "max", "q"}
BEST_TRIAL_FILE = "best_trial.json"


def eval_metric_names(problem_type: str | None = None) -> list[str]:
    """What an evaluation of a run of this problem type reports: the loss and the type's metrics
    (training.metrics.METRIC_NAMES); None: any problem type's (the type may be inferred from the data later)."""
    from training.metrics import METRIC_NAMES  # scikit-learn: imported by the runs that search, not at start-up

    types = problem_types.PROBLEM_TYPES if problem_type is None else (problem_type,)
    return list(dict.fromkeys(["loss", *(name for kind in types for name in METRIC_NAMES[kind])]))


def check_search_for_problem(space: SearchSpace, problem_type: str) -> None:
    """Refuse, once the run's problem type is known, a sweep that cannot work for it: a metric the run does not
    report, a goal that contradicts the metric, or a parameter the problem type has no use for."""
    from training.metrics import greater_is_better

    known = eval_metric_names(problem_type)
    metric = space.metric.removeprefix("eval/")
    if metric not in known:
        raise TextclsError(
            f"{space.path}: metric {space.metric} is not reported by a {problem_type} run; its evaluations log "
            f"{', '.join(f'eval/{name}' for name in known)} (e.g. eval/micro_f1 for multi-label, eval/spearman for "
            "regression)."
        )
    wanted = "maximize" if greater_is_better(metric) else "minimize"
    if space.goal != wanted:
        better = "higher" if wanted == "maximize" else "lower"
        raise TextclsError(
            f"{space.path}: goal {space.goal} for {space.metric}, which is better {better}: use goal: {wanted}"
        )
    names = {parameter.name: parameter for parameter in space.parameters}
    if problem_type == problem_types.REGRESSION and "class_weights" in names:
        raise TextclsError(
            f"{space.path}: a class_weights sweep over a regression run cannot work: a regression target has no "
            "classes to weigh (its loss is the mean squared error). Remove class_weights from the sweep."
        )
    smoothing = names.get("label_smoothing_factor")
    if problem_type == problem_types.REGRESSION and smoothing is not None and any(smoothing.corners()):
        raise TextclsError(
            f"{space.path}: label_smoothing_factor smooths class targets; a regression target is a value. Remove it "
            "from the sweep."
        )
    if problem_type != problem_types.MULTI_LABEL and "threshold_strategy" in names:
        raise TextclsError(
            f"{space.path}: threshold_strategy tunes multi-label decision thresholds; a {problem_type} run has none. "
            "Remove it from the sweep."
        )


@dataclass(frozen=True)
class Parameter:
    """One searched setting: a categorical choice, or an int or float range (log-scaled, or with a step)."""

    name: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False
    step: float | None = None

    def suggest(self, trial) -> Any:
        """The value this Optuna trial takes (the same one however often a trial asks)."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def corners(self) -> list:
        """Every choice, or both ends of the range: the values checked against the script's arguments."""
        return list(self.choices) if self.choices else [self.low, self.high]


@dataclass(frozen=True)
class SearchSpace:
    """A sweep YAML as the search reads it."""

    path: str
    method: str
    metric: str  # as W&B names it: eval/macro_f1
    goal: str
    parameters: tuple[Parameter, ...]

    @property
    def objective_key(self) -> str:
        """The metric as Trainer.evaluate returns it (eval_macro_f1); WandbCallback logs it as eval/macro_f1."""
        return self.metric.replace("/", "_", 1)

    @property
    def model_settings(self) -> list[str]:
        """The searched settings that model_init applies (the rest go to TrainingArguments)."""
        return [parameter.name for parameter in self.parameters if parameter.name in TRIAL_MODEL_SETTINGS]

    def training_values(self, trial) -> dict[str, Any]:
        """The trial's TrainingArguments values (Trainer's hp_space: it sets them on the Trainer's args).

        Every parameter is drawn here, the model settings too: under several processes the Trainer sends only the
        values drawn in hp_space to the other ranks, whose model_init then reads them back."""
        values = {p.name: p.suggest(trial) for p in self.parameters}
        return {name: value for name, value in values.items() if name not in TRIAL_MODEL_SETTINGS}

    def model_arguments(self, model_args: ModelArguments, trial) -> ModelArguments:
        """The ModelArguments of this trial's model (for model_init)."""
        values = {p.name: p.suggest(trial) for p in self.parameters if p.name in TRIAL_MODEL_SETTINGS}
        return dataclasses.replace(model_args, **values) if values else model_args

    def sampler(self, seed: int):
        """Optuna's counterpart of the sweep's method: TPE for bayes, random, or the grid of all choices."""
        import optuna

        if self.method == "bayes":
            return optuna.samplers.TPESampler(seed=seed)
        if self.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.GridSampler({p.name: list(p.choices) for p in self.parameters}, seed=seed)


def read_search_space(path: str) -> SearchSpace:
    """Read and check a W&B sweep YAML: method, metric (one our evaluations log) and parameters (our settings)."""
    file = Path(path)
    if not file.is_file():
        raise TextclsError(f"hp_search_space: no such file {path!r} (sweep YAMLs are in configs/sweeps/)")
    try:
        sweep = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TextclsError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(sweep, dict):
        raise TextclsError(f"{path} must hold a W&B sweep configuration (a mapping), got {type(sweep).__name__}")

    method = sweep.get("method")
    if method not in METHODS:
        raise TextclsError(f"{path}: method must be one of {', '.join(METHODS)}; got {method!r}")
    metric = sweep.get("metric")
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise TextclsError(f"{path}: metric must give the name of an evaluation metric, e.g. name: eval/macro_f1")
    name, goal = metric["name"], metric.get("goal", "minimize")  # W&B's default goal
    known_metrics = [f"eval/{metric_name}" for metric_name in eval_metric_names()]
    if name not in known_metrics:
        raise TextclsError(
            f"{path}: metric name {name!r} is not logged by our runs; the sweep's runs (and trials) are judged on the "
            f"validation split, logged as {', '.join(known_metrics)}."
        )
    if goal not in GOALS:
        raise TextclsError(f"{path}: metric goal must be maximize or minimize; got {goal!r}")

    specs = sweep.get("parameters")
    if not isinstance(specs, dict) or not specs:
        raise TextclsError(f"{path}: parameters must map setting names to their values or distributions")
    settings = {f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls) if f.init}
    parameters = []
    for parameter_name, spec in specs.items():
        if parameter_name not in settings:
            close = difflib.get_close_matches(str(parameter_name), settings, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TextclsError(
                f"{path}: unknown parameter {parameter_name!r}{hint}: parameters are settings of "
                "run_classification.py (`python run_classification.py --help` lists them)."
            )
        parameters.append(parse_parameter(path, parameter_name, spec))
    ranges = [parameter.name for parameter in parameters if not parameter.choices]
    if method == "grid" and ranges:
        raise TextclsError(
            f"{path}: method grid needs a list of values for every parameter; {', '.join(ranges)} give ranges. "
            "Use method bayes or random, or list their values."
        )
    return SearchSpace(path, method, name, goal, tuple(parameters))


def parse_parameter(path: str, name: str, spec: Any) -> Parameter:
    """One entry of `parameters`, read as W&B reads it."""
    where = f"{path}: parameter {name}"
    if not isinstance(spec, dict):
        raise TextclsError(f"{where}: expected a mapping with value, values, or distribution/min/max; got {spec!r}")
    distribution = spec.get("distribution")
    if distribution is None:  # W&B infers it
        if "value" in spec:
            distribution = "constant"
        elif "values" in spec:
            distribution = "categorical"
        else:
            ends = (spec.get("min"), spec.get("max"))
            integers = all(isinstance(end, int) and not isinstance(end, bool) for end in ends)
            distribution = "int_uniform" if integers else "uniform"
    if distribution not in DISTRIBUTIONS:
        raise TextclsError(
            f"{where}: distribution {distribution!r} has no Optuna counterpart here; "
            f"use one of {', '.join(DISTRIBUTIONS)}"
        )
    if set(spec) - SPEC_KEYS:
        raise TextclsError(
            f"{where}: {', '.join(sorted(set(spec) - SPEC_KEYS))} not understood here; a parameter gives value, "
            "values, or distribution with min and max (and q for q_uniform)"
        )
    if distribution == "constant":
        if "value" not in spec:
            raise TextclsError(f"{where}: distribution constant needs a value")
        return Parameter(name, choices=(spec["value"],))
    if distribution == "categorical":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise TextclsError(f"{where}: values must be a non-empty list; got {values!r}")
        for value in values:
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise TextclsError(f"{where}: each value must be a number, a string or a boolean; got {value!r}")
        return Parameter(name, choices=tuple(values))

    low, high = spec.get("min"), spec.get("max")
    for end, value in (("min", low), ("max", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (YAML reads 1e-5 as text: write 1.0e-5)" if isinstance(value, str) else ""
            raise TextclsError(f"{where}: {distribution} needs a number for {end}; got {value!r}{hint}")
    if low > high:
        raise TextclsError(f"{where}: min {low} is above max {high}")
    if distribution == "log_uniform_values" and low <= 0:
        raise TextclsError(f"{where}: log_uniform_values needs min > 0; got {low}")
    if distribution == "int_uniform" and not (isinstance(low, int) and isinstance(high, int)):
        raise TextclsError(f"{where}: int_uniform needs whole numbers for min and max; got {low}, {high}")
    step = spec.get("q", 1) if distribution == "q_uniform" else None
    integer = distribution == "int_uniform" or (
        distribution == "q_uniform" and all(isinstance(value, int) for value in (low, high, step))
    )
    return Parameter(name, low=low, high=high, integer=integer, log=distribution == "log_uniform_values", step=step)


def prepare_search(argv: Sequence[str], training_args: TextclsTrainingArguments) -> SearchSpace:
    """The search space of `--hp_search_space`, checked before any data is read, and trial-ready TrainingArguments.

    Every parameter must be one a trial can change, and each of its choices (or both ends of its range) must be a
    value the script accepts for that setting. Trials save no checkpoints (their models are thrown away; the best
    settings are trained again by the run that best_trial.json gives) and push nothing.
    """
    space = read_search_space(training_args.hp_search_space)
    training_settings = {f.name for f in dataclasses.fields(TextclsTrainingArguments) if f.init}
    for parameter in space.parameters:
        name = parameter.name
        if name in FIXED_PROBLEM_SETTINGS:
            raise TextclsError(
                f"{space.path}: an Optuna trial cannot change {name}: {FIXED_PROBLEM_SETTINGS[name]}. Set it in the "
                "config, or search it with wandb agent, which starts a fresh run for every setting."
            )
        if name in FIXED_DURING_SEARCH or (name not in training_settings and name not in TRIAL_MODEL_SETTINGS):
            raise TextclsError(
                f"{space.path}: an Optuna trial cannot change {name}: it is fixed for the whole search (the data are "
                "tokenized once, and the model is rebuilt from these settings only: "
                f"{', '.join(TRIAL_MODEL_SETTINGS)}, plus TrainingArguments). Set it in the config, or search it "
                "with wandb agent, which starts a fresh run for every setting."
            )
        for value in parameter.corners():
            try:
                parse_arguments([*argv, f"--{name}={value}"])
            except TextclsError as error:  # a wrong type (argparse's error) or value (the dataclasses' checks)
                raise TextclsError(f"{space.path}: {name}={value!r} is not a valid setting: {error}") from None

    training_args.save_strategy = SaveStrategy.NO
    training_args.load_best_model_at_end = False  # a trial's score is its best evaluation anyway (TrialScores)
    training_args.push_to_hub = False
    return space


class TrialScores(TrainerCallback):
    """Every trial's evaluations of the sweep's metric; a trial's score is its best one.

    That is the evaluation whose checkpoint load_best_model_at_end would keep, so the best trial's settings are
    judged as the run that trains them again will be. Trainer's default objective (the sum of all metrics, or the
    last evaluation's) would be another number. Used as `compute_objective`, it returns the trial's best so far.
    """

    def __init__(self, key: str, goal: str):
        self.key, self.goal = key, goal
        self.trials: list[dict] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.trials.append({"trial": state.trial_name, "parameters": dict(state.trial_params or {}), "evaluations": []})

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics is None or not self.trials:
            return
        if self.key not in metrics:
            raise TextclsError(f"the search metric {self.key} is not among the evaluation's metrics: {sorted(metrics)}")
        self.trials[-1]["evaluations"].append(metrics[self.key])

    def __call__(self, metrics: dict[str, float]) -> float:
        trial = self.trials[-1]
        trial["score"] = (max if self.goal == "maximize" else min)(trial["evaluations"])
        return trial["score"]


def run_search(trainer, space: SearchSpace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the trials, write best_trial.json to output_dir and log the command that trains the best settings."""
    import optuna

    args = trainer.args
    scores = TrialScores(space.objective_key, space.goal)
    trainer.add_callback(scores)
    logger.info(
        "searching %s with Optuna: %d trials, %s %s; class separation is not measured in trials (a t-SNE per trial "
        "is too slow) and the test split is not read",
        space.path,
        args.hp_search_trials,
        space.goal,
        space.metric,
    )
    best = trainer.hyperparameter_search(
        hp_space=space.training_values,
        compute_objective=scores,
        n_trials=args.hp_search_trials,
        direction=space.goal,
        backend="optuna",
        hp_name=lambda trial: f"trial-{trial.number}",
        sampler=space.sampler(args.seed),
        # trials of other batch sizes and epochs report at other steps: no fair median to prune against
        pruner=optuna.pruners.NopPruner(),
    )
    if best is None:  # the other processes of a distributed search
        return {}
    command = rerun_command(argv, best.hyperparameters)
    record = {
        "search_space": space.path,
        "metric": space.metric,
        "goal": space.goal,
        "score": best.objective,
        "trial": f"trial-{best.run_id}",
        "parameters": best.hyperparameters,
        "command": command,
        "trials": scores.trials,
    }
    if trainer.is_world_process_zero():
        output_dir = Path(args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / BEST_TRIAL_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        logger.info(
            "best of %d trials: %s %s = %.4f with %s (%s)\ntrain the final model with these settings:\n  %s",
            len(scores.trials),
            f"trial-{best.run_id}",
            space.metric,
            best.objective,
            best.hyperparameters,
            output_dir / BEST_TRIAL_FILE,
            command,
        )
    return {f"best_{space.objective_key}": best.objective, "hp_search_trials": len(scores.trials)}


def rerun_command(argv: Sequence[str], parameters: dict[str, Any]) -> str:
    """The command line of this run without the search, with the best parameters as overrides."""
    kept, skip_value = [], False
    for token in argv:
        if skip_value:
            skip_value = False
            continue
        name = token[2:].split("=", 1)[0] if token.startswith("--") else None
        # The search's own flags go, and so do the flags the best parameters replace (one value each).
        if name in ("hp_search_space", "hp_search_trials") or name in parameters:
            skip_value = "=" not in token
            continue
        kept.append(token)
    overrides = [f"--{name}={value}" for name, value in parameters.items()]
    if kept and kept[0].endswith(".json") and read_config(kept[0]).get("hp_search_trials"):  # the config searches
        overrides.append("--hp_search_trials=0")
    return shlex.join(["python", "run_classification.py", *kept, *overrides])


def sweep_run_output_dir(output_dir: str) -> str:
    """Under `wandb agent`, the run's own folder <output_dir>/sweep-<id>/<run id>.

    A sweep's runs share one config, so in one folder each run would resume from the previous run's checkpoint.
    The agent names both in the environment of every run it starts.
    """
    sweep_id, run_id = os.environ.get("WANDB_SWEEP_ID"), os.environ.get("WANDB_RUN_ID")
    if not (sweep_id and run_id):
        return output_dir
    folder = str(Path(output_dir) / f"sweep-{sweep_id}" / run_id)
    logger.info("W&B sweep %s, run %s: writing to %s", sweep_id, run_id, folder)
    return folder
