"""Match a saved classifier's classes to a corpus's by name: the one place that decides whether a fine-tuned model can
read this data, and turns its output rows into the corpus's order.

A model saved as {0: pos, 1: neg} that meets data ordered {0: neg, 1: pos} must not be read by position: its head's
output rows (weight and bias of the layer that gives the logits) are permuted to the corpus's order instead, so that
every logit, prediction file, report and the saved config speak the corpus's order. A different set of classes is
refused, unless the caller asks for a new head.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

# transformers names the classes of a config that was never given any LABEL_0, LABEL_1, ...
UNNAMED_LABEL = re.compile(r"LABEL_\d+")


def saved_label_names(config: PretrainedConfig) -> list[str]:
    """The class names of a config, in the order of the model's output rows."""
    return [str(config.id2label[index]) for index in range(config.num_labels)]


def has_classification_head(config: PretrainedConfig) -> bool:
    """Whether the folder's weights include a trained classification head (its architecture says so)."""
    return any(name.endswith("ForSequenceClassification") for name in (config.architectures or []))


@dataclass(frozen=True)
class LabelMatch:
    """How a saved model's classes relate to a corpus's: `order[i]` is the saved row of the corpus's class i."""

    saved: list[str]
    wanted: list[str]
    order: list[int] | None  # None when the sets differ

    @property
    def same(self) -> bool:
        return self.saved == self.wanted

    @property
    def reordered(self) -> bool:
        return self.order is not None and not self.same

    @property
    def unnamed(self) -> bool:
        """The saved classes are transformers' placeholders (LABEL_0, ...): there are no names to match."""
        return not self.same and all(UNNAMED_LABEL.fullmatch(name) for name in self.saved)


def match_labels(saved: Sequence[str], wanted: Sequence[str]) -> LabelMatch:
    """Compare two lists of class names by name (never by position)."""
    saved, wanted = [str(name) for name in saved], [str(name) for name in wanted]
    unnamed = all(UNNAMED_LABEL.fullmatch(name) for name in saved)
    same_set = len(saved) == len(wanted) and sorted(saved) == sorted(wanted) and len(set(saved)) == len(saved)
    if saved == wanted or (same_set and not unnamed):
        return LabelMatch(saved, wanted, [saved.index(name) for name in wanted])
    return LabelMatch(saved, wanted, None)


def describe(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"


def different_classes_error(source: str, match: LabelMatch, remedy: str) -> TextclsError:
    """The message for a model whose classes are not this corpus's."""
    missing = [name for name in match.wanted if name not in match.saved]
    extra = [name for name in match.saved if name not in match.wanted]
    details = []
    if missing:
        details.append(f"the model lacks {describe(missing)}")
    if extra:
        details.append(f"the data lacks {describe(extra)}")
    if all(UNNAMED_LABEL.fullmatch(name) for name in match.saved) and not match.same:
        details.append("the model's classes are unnamed, so they cannot be matched by name")
    return TextclsError(
        f"{source} was trained for the classes {describe(match.saved)}, but this data has {describe(match.wanted)}"
        f"{': ' + '; '.join(details) if details else ''}. {remedy}"
    )


def require_same_order(source: str, saved: Sequence[str], wanted: Sequence[str], remedy: str) -> None:
    """For a checkpoint to resume (its optimizer state is in its own order): the classes must be the same, in order."""
    match = match_labels(saved, wanted)
    if match.same:
        return
    if match.reordered:
        raise TextclsError(
            f"{source} holds the classes {describe(match.saved)} in another order than this data's "
            f"{describe(match.wanted)}: a checkpoint cannot be resumed in another order. {remedy}"
        )
    raise different_classes_error(source, match, remedy)


def output_layer(model: nn.Module, num_labels: int) -> nn.Linear:
    """The linear layer that gives the logits: the last `nn.Linear` with one output per class.

    Every head here ends in one (BERT `classifier`, RoBERTa `classifier.out_proj`, DistilBERT `classifier`, the MLP
    head's `classifier.output`, GloVe/LSTM `classifier`; under LoRA, peft's copy of it), registered after the encoder.
    """
    layers = [module for module in model.modules() if isinstance(module, nn.Linear)]
    layers = [layer for layer in layers if layer.out_features == num_labels]
    if not layers:
        raise TextclsError(f"cannot find the classification layer (a linear layer with {num_labels} outputs)")
    return layers[-1]


@torch.no_grad()
def reorder_output_rows(model: PreTrainedModel, order: Sequence[int]) -> None:
    """Permute the output layer's rows so that row i is the saved row `order[i]`."""
    layer = output_layer(model, len(order))
    index = torch.as_tensor(list(order), device=layer.weight.device)
    layer.weight.copy_(layer.weight[index].clone())
    if layer.bias is not None:
        layer.bias.copy_(layer.bias[index].clone())


def set_label_names(config: PretrainedConfig, label_names: Sequence[str]) -> None:
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: index for index, name in enumerate(label_names)}
    config.num_labels = len(label_names)


def head_labels(model_path: str, cache_dir: str | None = None) -> list[str] | None:
    """The classes of the trained head a model folder or hub id holds, in its row order; None when it has none."""
    config = AutoConfig.from_pretrained(model_path, cache_dir=cache_dir)
    return saved_label_names(config) if has_classification_head(config) else None


def check_classes(
    source: str, saved: Sequence[str], wanted: Sequence[str], new_head_allowed: bool = False, training: bool = False
) -> LabelMatch:
    """Match a trained head's classes to the data's by name, before any weights are read.

    Another set of classes is refused unless `new_head_allowed` (the `ignore_mismatched_sizes` setting), or, when
    `training`, the saved classes are unnamed (a hub classifier's LABEL_0, ...): both get a new output layer.
    """
    match = match_labels(saved, wanted)
    if match.order is None and not (new_head_allowed or (match.unnamed and training)):
        raise different_classes_error(
            source,
            match,
            "Give the data (and categories) it was trained on, or set ignore_mismatched_sizes to true to train a new "
            "classification head on it.",
        )
    return match


def fit_output_rows(model: PreTrainedModel, match: LabelMatch, source: str) -> None:
    """After loading: the output rows in the data's class order (moved or, for another set, new), named so."""
    if match.reordered:
        reorder_output_rows(model, match.order)
        logger.warning(
            "%s lists its classes in another order (%s) than this data (%s): its output rows were reordered to the "
            "data's order (classes are matched by name)",
            source,
            ", ".join(match.saved),
            ", ".join(match.wanted),
        )
    elif match.order is None:
        if len(match.saved) == len(match.wanted):  # same shape: from_pretrained kept the old rows
            reset_output_layer(model, len(match.wanted))
        logger.warning(
            "%s was trained for %s classes (%s): it gets a new, untrained output layer for this data's (%s)",
            source,
            "unnamed" if match.unnamed else "other",
            ", ".join(match.saved),
            ", ".join(match.wanted),
        )
    set_label_names(model.config, match.wanted)


@torch.no_grad()
def reset_output_layer(model: PreTrainedModel, num_labels: int) -> None:
    """A fresh output layer (the model's own initialisation), for a new set of classes."""
    layer = output_layer(model, num_labels)
    for parameter in layer.parameters():
        parameter._is_hf_initialized = False  # transformers' init functions skip weights read from a checkpoint
    model._init_weights(layer)
