"""Share a finished run on the Hugging Face Hub: `push_to_hub`, `hub_model_id`, `hub_private_repo`, `hub_token` and
`hub_revision` are TrainingArguments' own settings, but the upload is made here, once, at the end of the run.

Why not the Trainer's push: in transformers 5.x it uploads the whole output_dir (predictions.csv and the 3D map
hold the data's texts, trainer_state.json the local checkpoint path, training_args.bin the hub_token), writes its
own README.md over ours (naming the folder the backbone was read from as the base model: a local path for an
offline copy), pushes from `save_model()` before evaluation has run, and saves the model again first, which would
put adapter files back into a merged LoRA folder. So the Trainer gets a copy of the settings with push_to_hub off
(`for_trainer`), the repository is created before training (a missing login fails in seconds, not after
training), and `push_run` uploads the files of SHARED_FILES and the custom models' code (`HfApi.upload_folder` with
them as allow_patterns). The Trainer's copy of the settings also has no hub_token: it saves its settings in
training_args.bin in output_dir and in every checkpoint, and a shared run folder must not carry the token.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
import os
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from transformers import TrainingArguments

from modeling.hub import hub_is_offline
from textcls_errors import TextclsError

# A refused request raises HfHubHTTPError; a network that fails first raises its HTTP client's own errors, of which
# HfHubHTTPError is a subclass: catching its bases covers both without naming the client package. Not OSError, its
# other base: a file of output_dir that cannot be read is a local problem, not an upload failure.
HUB_ERRORS = (HfHubHTTPError, *(base for base in HfHubHTTPError.__bases__ if base is not OSError))

logger = logging.getLogger(__name__)


def first_line(error: Exception) -> str:
    """The error's type and the first line of its message (Hub errors carry the server's whole reply)."""
    return f"{error.__class__.__name__}: {(str(error).splitlines() or [''])[0]}"


# What a model repository gets from output_dir: model, tokenizer, card, results and figures. Not the predictions
# or the 3D map (texts of the data), trainer_state.json or training_args.bin (paths of this machine, the token),
# nor checkpoints.
SHARED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "adapter_config.json",
    "adapter_model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",  # sentencepiece vocabularies
    "README.md",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
    "test_results.json",
    "classification_report.json",
    "classification_report.txt",
    "embeddings_tsne.png",
    "confusion_matrix.png",
    "predictions_scatter.png",
    "training_curves.png",
)


def repo_name(args: TrainingArguments) -> str:
    """hub_model_id, or like the Trainer the name of output_dir (the Hub puts it under the user's account)."""
    return args.hub_model_id or Path(args.output_dir).absolute().name


def for_trainer(args: TrainingArguments) -> TrainingArguments:
    """The settings the Trainer gets: the same, but it uploads nothing by itself and does not know the Hub token,
    which it would save in training_args.bin (see the module docstring)."""
    trainer_args = copy.copy(args)
    trainer_args.push_to_hub = False
    trainer_args.hub_token = None
    return trainer_args


def create_repo(args: TrainingArguments, model_args) -> str | None:
    """Check that the run can be shared and create (or find) its repository, before training; returns its full
    id ("user/name"). Every process checks (they stop alike); only the global main one, which pushes at the end,
    talks to the Hub and gets the id: the others get None (with save_on_each_node each node's main process saves,
    but the repository is made once)."""
    name = repo_name(args)
    if not args.do_train:
        raise TextclsError(
            "push_to_hub shares the model that the run trains and saves, but do_train is false: output_dir gets no "
            "model. Train (do_train true), or push the model folder you evaluated with `hf upload`."
        )
    base = model_args.model_name_or_path
    if model_args.use_lora and not model_args.merge_lora and base and Path(base).expanduser().exists():
        raise TextclsError(
            f"push_to_hub with a LoRA adapter: the adapter names its base model, but model_name_or_path={base!r} "
            "is a local folder, which means nothing on the Hub. Give the base model's hub id, or set merge_lora "
            "to true to push a plain merged model."
        )
    if os.environ.get("WANDB_SWEEP_ID"):
        raise TextclsError(
            "push_to_hub in a W&B sweep run: every run of the sweep would push to the Hub (to one repository, each "
            "overwriting the last, or one per run). Sweep without it, then train the chosen settings once with "
            "push_to_hub."
        )
    if hub_is_offline():
        raise TextclsError(
            f"push_to_hub is set (repository {name!r}), but HF_HUB_OFFLINE is set: the Hub cannot be reached. "
            "Unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE), or set push_to_hub to false."
        )
    if args.process_index != 0:
        return None
    try:
        url = HfApi(token=args.hub_token).create_repo(name, private=args.hub_private_repo, exist_ok=True)
    except HUB_ERRORS as error:
        raise TextclsError(
            f"cannot create the Hub repository {name!r} (hub_model_id): {first_line(error)}. Log in with `hf auth "
            "login` or give hub_token, and check that the account may write to that namespace."
        ) from None
    logger.info("Pushing to %s at the end of the run", url)
    return url.repo_id


def files_to_push(output_dir: str | Path) -> list[str]:
    """The names of the files of output_dir that go to the Hub: SHARED_FILES and the code config.json's
    auto_map names (a GloVe or RNN model loads with trust_remote_code=True from them)."""
    output_dir = Path(output_dir)
    names = {
        path.name
        for path in output_dir.iterdir()
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in SHARED_FILES)
    }
    config = output_dir / "config.json"
    auto_map = json.loads(config.read_text()).get("auto_map", {}) if config.is_file() else {}
    for reference in auto_map.values():
        module = reference.split("--")[-1].split(".")[0]  # "configuration_glove.GloveConfig"
        if (output_dir / f"{module}.py").is_file():
            names.add(f"{module}.py")
    return sorted(names)


def push_run(args: TrainingArguments, repo_id: str):
    """Upload the run's shareable files (files_to_push) to the branch hub_revision; returns huggingface_hub's
    CommitInfo."""
    output_dir = Path(args.output_dir)
    names = files_to_push(output_dir)
    if "config.json" not in names or not any(name.endswith(".safetensors") for name in names):
        raise TextclsError(f"{output_dir} holds no saved model (config.json and *.safetensors): nothing to push")
    try:
        commit = HfApi(token=args.hub_token).upload_folder(
            repo_id=repo_id,
            folder_path=output_dir,
            allow_patterns=names,  # exact names: nothing else of output_dir, nothing from its subfolders
            revision=args.hub_revision,
            commit_message="Upload a textcls run: model, tokenizer, card and results",
        )
    except HUB_ERRORS as error:
        raise upload_failed(repo_id, output_dir, names, error) from None
    except OSError as error:
        if error.filename is None:  # not a file of ours: a connection the HTTP client did not wrap
            raise upload_failed(repo_id, output_dir, names, error) from None
        raise TextclsError(
            f"cannot read {error.filename} to upload it to {repo_id} ({error.strerror}). The push stopped; fix the "
            f"file (permissions, disk) and upload with: hf upload {repo_id} {output_dir}"
        ) from None
    logger.info("Pushed %d files to %s", len(names), commit.commit_url)
    return commit


def upload_failed(repo_id: str, output_dir: Path, names: list[str], error: Exception) -> TextclsError:
    return TextclsError(
        f"the upload to {repo_id} failed ({first_line(error)}); the run's files are intact in {output_dir}. Once the "
        f"problem is fixed, upload them with: hf upload {repo_id} {output_dir} "
        + " ".join(f"--include {name}" for name in names)
    )
