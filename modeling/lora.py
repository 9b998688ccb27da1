"""LoRA (Hu et al., 2021) for the transformer backbones through peft: small trainable low-rank updates of the
attention projections, the classification head trained in full.

A LoRA run's output_dir holds the adapter (adapter_config.json + adapter_model.safetensors) beside the
backbone's config.json (class names, text cleaning and truncation), or, with `merge_lora`, a plain merged
model. `load_for_inference` loads either.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel
from transformers.dynamic_module_utils import custom_object_save

from modeling.classifier_heads import backbone_config
from modeling.hub import LOAD_DTYPE, resolve_model_path
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
# The query and value projections, as in the LoRA paper; MiniLM is a BERT.
DEFAULT_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
}
# Layers that classification adds on top of each backbone: new, so trained in full.
HEAD_MODULES = {"distilbert": ["pre_classifier", "classifier"]}


def add_lora(model: PreTrainedModel, r: int, alpha: int, dropout: float, target_modules: list[str] | None):
    """Wrap `model` so that only LoRA matrices and the classification head train."""
    from peft import LoraConfig, TaskType, get_peft_model

    model_type = model.config.model_type
    # An MLP head wraps a backbone: its attention layers are named as that backbone's, and its head is `classifier`.
    backbone_type = backbone_config(model.config).model_type
    targets = target_modules or DEFAULT_TARGETS.get(backbone_type)
    if targets is None:
        raise TextclsError(
            f"use_lora has no default layers for model type {backbone_type!r} (known: {', '.join(DEFAULT_TARGETS)}): "
            'name the attention projections to adapt with lora_target_modules, e.g. ["query", "value"].'
        )
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        modules_to_save=HEAD_MODULES.get(model_type, ["classifier"]),
    )
    try:
        wrapped = get_peft_model(model, config)
    except ValueError as error:  # e.g. target modules that the model does not have
        raise TextclsError(f"cannot add LoRA to this {model_type} model: {error}") from None
    trainable, total = wrapped.get_nb_trainable_parameters()
    logger.info(
        "LoRA r=%d alpha=%d on %s: %d trainable parameters of %d (%.2f %%)",
        r,
        alpha,
        ", ".join(targets),
        trainable,
        total,
        100 * trainable / total,
    )
    return wrapped


def save_lora_result(model, output_dir: str | Path, base_name: str, merge: bool) -> None:
    """After training: the merged model, or the adapter with the backbone's config beside it.

    The adapter names its backbone by the id the user gave (not the local folder it was read from), so that
    the folder can be shared; `load_for_inference` resolves that id again, offline copies included.
    """
    output_dir = Path(output_dir)
    if merge:
        for name in ADAPTER_FILES:
            (output_dir / name).unlink(missing_ok=True)
        model.merge_and_unload().save_pretrained(output_dir)
        return
    model.peft_config["default"].base_model_name_or_path = base_name
    model.save_pretrained(output_dir)
    base = model.get_base_model()
    if base._auto_class is not None:  # custom code (an MLP head): its files and auto_map travel with the adapter
        custom_object_save(base, output_dir, config=base.config)
    base.config.save_pretrained(output_dir)


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def load_for_inference(folder: str | Path):
    """A saved classifier: a plain model folder, or a LoRA adapter on its backbone (merged for speed)."""
    folder = Path(folder)
    if not is_adapter_folder(folder):
        return AutoModelForSequenceClassification.from_pretrained(folder, dtype=LOAD_DTYPE)
    from peft import PeftConfig, PeftModel

    adapter = PeftConfig.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)  # the class names and recorded settings of this run
    base = AutoModelForSequenceClassification.from_pretrained(
        resolve_model_path(adapter.base_model_name_or_path), config=config, dtype=LOAD_DTYPE
    )
    return PeftModel.from_pretrained(base, folder).merge_and_unload()
