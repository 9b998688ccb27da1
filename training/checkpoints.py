"""Which checkpoint a run resumes from: only a complete one, only with the settings it was trained with.

The Trainer resumes from whatever `checkpoint-N` is newest. A kill while it saves leaves a half-written folder
that fails on every rerun, and a rerun with another learning rate or data file silently continues the old run
with the old optimizer and schedule. Here a checkpoint counts only when the files the Trainer reads are whole,
each checkpoint records the settings that shape training (`SETTINGS_FILE`), and an automatic resume with other
settings stops with the names of the changed ones. The decision is made once, on the main process, and shared.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

SETTINGS_FILE = "textcls_training_settings.json"

# TrainingArguments that change what a training step does or which model the run keeps. Output, logging,
# evaluation batch size, saving and reporting do not, so a resumed run may change them freely.
TRAINING_ARGUMENTS = (
    "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
    "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "weight_decay", "adam_beta1", "adam_beta2",
    "adam_epsilon", "max_grad_norm", "optim", "optim_args", "seed", "data_seed", "label_smoothing_factor",
    "train_sampling_strategy", "neftune_noise_alpha", "fp16", "bf16", "metric_for_best_model", "greater_is_better",
)  # fmt: skip
# Fields of our own argument groups (model, data, cleaning, augmentation) that do not shape training: where files
# are cached or read from, what is done after training. Every other field counts, new ones included.
NOT_TRAINING = frozenset(
    {"cache_dir", "merge_lora", "early_stopping_patience", "test_file", "max_predict_samples", "pad_to_max_length",
     "preprocessing_num_workers", "overwrite_cache", "wordnet_dir"}
)  # fmt: skip
DATA_FILES = ("train_file", "validation_file")  # recorded by content, so that an edited file counts as a change
WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin",
    "adapter_model.bin",
)  # fmt: skip


def training_settings(*argument_groups) -> dict:
    """The settings that shape training, as JSON values: the fields of our argument dataclasses that are not in
    NOT_TRAINING, the TrainingArguments in TRAINING_ARGUMENTS, the number of processes, and the data files' hashes."""
    settings: dict = {}
    for group in argument_groups:
        if hasattr(group, "world_size"):  # the TrainingArguments
            settings.update({name: getattr(group, name, None) for name in TRAINING_ARGUMENTS})
            settings["world_size"] = group.world_size  # steps per epoch and the data order depend on it
        else:
            settings.update({f.name: getattr(group, f.name) for f in fields(group) if f.name not in NOT_TRAINING})
    for name in DATA_FILES:
        if settings.get(name) and Path(settings[name]).is_file():
            settings[name] = "sha256:" + file_sha256(Path(settings[name]))
    return json.loads(json.dumps(settings, default=json_value))  # the form it has once saved and read back


def json_value(value):
    """JSON form of the few non-JSON values in the settings (enums such as the scheduler type)."""
    return value.value if isinstance(value, enum.Enum) else str(value)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RecordSettings(TrainerCallback):
    """Writes the run's training settings into every checkpoint the Trainer saves (main process only)."""

    def __init__(self, settings: dict):
        self.settings = settings

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / SETTINGS_FILE).write_text(json.dumps(self.settings, indent=2, sort_keys=True) + "\n")


def checkpoint_problem(folder: Path, needs_optimizer: bool = True) -> str | None:
    """Why the Trainer could not resume from this checkpoint (a missing or cut file), or None when it is whole."""
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        int(state["global_step"])
    except FileNotFoundError:
        return "trainer_state.json is missing"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"trainer_state.json is unreadable ({error})"
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        return f"it holds no weights (none of {', '.join(WEIGHT_FILES)})"
    for path in sorted(folder.glob("*.json")):
        if path.name != "trainer_state.json" and (problem := json_problem(path)):
            return problem
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass  # the header parses and the file is as long as the header says
        except Exception as error:  # safetensors raises its own error type
            return f"{path.name} is cut or corrupt ({error})"
    required = ["optimizer.pt", "scheduler.pt"] if needs_optimizer else []
    for name in required:
        if not (folder / name).is_file():
            return f"{name} is missing"
    torch_files = [folder / name for name in ("optimizer.pt", "scheduler.pt", "pytorch_model.bin", "adapter_model.bin")]
    for path in [p for p in torch_files if p.is_file()] + sorted(folder.glob("rng_state*.pth")):
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut one has no central directory
            return f"{path.name} is cut or corrupt"
    return None


def json_problem(path: Path) -> str | None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{path.name} is unreadable ({error})"
    return None


def checkpoints_newest_first(output_dir: Path) -> list[Path]:
    """The `checkpoint-N` folders of output_dir, highest step first (the Trainer's naming)."""
    pattern = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
    found = [(int(m.group(1)), path) for path in output_dir.iterdir() if (m := pattern.match(path.name))]
    return [path for _, path in sorted(found, reverse=True) if path.is_dir()]


def changed_settings(folder: Path, settings: dict) -> list[str] | None:
    """Lines 'key: saved -> now' for each setting that differs from the checkpoint's record; None without one."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    return [
        f"{key}: {short(saved.get(key))} -> {short(settings.get(key))}"
        for key in sorted(set(saved) | set(settings))
        if saved.get(key) != settings.get(key)
    ]


def short(value) -> str:
    text = json.dumps(value)
    return text[:20] + '..."' if text.startswith('"sha256:') else text


def finished(folder: Path) -> bool:
    """Whether the checkpoint's run had ended: all its steps done, or stopped early (the saved TrainerControl)."""
    state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    control = state.get("stateful_callbacks", {}).get("TrainerControl", {}).get("args", {})
    return state["global_step"] >= state.get("max_steps", float("inf")) or bool(control.get("should_training_stop"))


@dataclass
class ResumeDecision:
    """What every process does: resume from `checkpoint` (None: start afresh), or stop with `error`."""

    checkpoint: str | None = None
    error: str | None = None


def decide_resume(
    output_dir: str, explicit: str | None, settings: dict, needs_optimizer: bool = True
) -> ResumeDecision:
    """The main process's decision for a training run (the warnings it logs say which checkpoints it skipped)."""
    if explicit:
        return explicit_checkpoint(Path(explicit), settings, needs_optimizer)
    run_dir = Path(output_dir)
    if not run_dir.is_dir():
        return ResumeDecision()
    for folder in checkpoints_newest_first(run_dir):
        if problem := checkpoint_problem(folder, needs_optimizer):
            logger.warning("Skipping %s: it is incomplete (%s), probably cut by a kill while saving.", folder, problem)
            continue
        way_out = (
            f"Use another output_dir to train with these settings, delete {run_dir} to start afresh, or give "
            f"resume_from_checkpoint {folder} to continue it anyway"
        )
        changed = changed_settings(folder, settings)
        if changed:
            return ResumeDecision(
                error=f"{run_dir} holds a run trained with other settings; resuming it would continue with its old "
                f"optimizer, schedule and data. Changed: {'; '.join(changed)}. {way_out} (the old optimizer and "
                "schedule stay)."
            )
        if changed is None:
            logger.warning("%s records no training settings (an older textcls wrote it): not checked.", folder)
        if finished(folder):
            return ResumeDecision(error=finished_run_message(run_dir, folder))
        logger.info("Resuming from %s (delete %s to start afresh).", folder, run_dir)
        return ResumeDecision(checkpoint=str(folder))
    return ResumeDecision()


def finished_run_message(run_dir: Path, folder: Path) -> str:
    """Why a rerun of a finished run stops (training it again would report a train_loss of 0.0), and what to do."""
    if (run_dir / "all_results.json").is_file() and (run_dir / "config.json").is_file():
        done = f"its results are in {run_dir / 'all_results.json'}. To evaluate it again, give {run_dir}"
    else:  # stopped after training, before the final model and results were written
        best = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8")).get("best_model_checkpoint")
        model = best if best and Path(best).is_dir() else folder
        done = f"the run stopped before writing its final model and results. To evaluate it, give {model}"
    return (
        f"{run_dir} holds a finished run ({folder.name} ended its training): {done} as model_name_or_path with "
        f"do_train false; to train again, use another output_dir or delete {run_dir}."
    )


def explicit_checkpoint(folder: Path, settings: dict, needs_optimizer: bool) -> ResumeDecision:
    """resume_from_checkpoint given: it must be whole; other settings are allowed, with a warning naming them."""
    if not folder.is_dir():
        return ResumeDecision(error=f"resume_from_checkpoint {folder} is not a folder.")
    if problem := checkpoint_problem(folder, needs_optimizer):
        return ResumeDecision(error=f"cannot resume from {folder}: {problem}. Give another checkpoint.")
    changed = changed_settings(folder, settings)
    if changed:
        logger.warning(
            "Resuming from %s as asked, with settings other than it was trained with (its optimizer and schedule "
            "stay): %s",
            folder,
            "; ".join(changed),
        )
    else:
        logger.info("Resuming from %s as asked.", folder)
    return ResumeDecision(checkpoint=str(folder))


def shared_resume_decision(
    output_dir: str, explicit: str | None, settings: dict, needs_optimizer: bool = True
) -> ResumeDecision:
    """The main process decides; every other process receives its decision, so they cannot disagree and hang."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    is_main = not distributed or torch.distributed.get_rank() == 0
    decision = [decide_resume(output_dir, explicit, settings, needs_optimizer) if is_main else None]
    if distributed:
        torch.distributed.broadcast_object_list(decision, src=0)
    return decision[0]


class FractionalStepsFilter(logging.Filter):
    """Drops transformers' resume warning lines that compare a fractional logging/eval/save_steps (our
    logging_steps 0.02 means 2 % of the steps) with the absolute step count trainer_state.json stores for it."""

    LINE = re.compile(r"\n\t(logging|eval|save)_steps: ([0-9.e-]+) \(from args\) != [^\n]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if "do not match the ones in the `trainer_state.json`" not in message:
            return True
        kept = self.LINE.sub(lambda m: "" if float(m.group(2)) < 1 else m.group(0), message)
        record.msg = kept
        return "\n\t" in kept


def quiet_fractional_steps_warning() -> None:
    """Install FractionalStepsFilter once on the logger that warns (transformers.trainer_utils)."""
    trainer_utils_logger = logging.getLogger("transformers.trainer_utils")
    if not any(isinstance(f, FractionalStepsFilter) for f in trainer_utils_logger.filters):
        trainer_utils_logger.addFilter(FractionalStepsFilter())


def checkpoint_to_resume(training_args, settings: dict) -> str | None:
    """The checkpoint a training run continues from (None: start afresh), decided once for all processes;
    a TextclsError when the newest complete checkpoint was trained with other settings or had finished."""
    if not training_args.do_train:
        return None
    decision = shared_resume_decision(
        training_args.output_dir,
        training_args.resume_from_checkpoint,
        settings,
        needs_optimizer=not training_args.save_only_model,
    )
    if decision.error:
        raise TextclsError(decision.error)
    return decision.checkpoint
