"""Which classification head a pretrained transformer gets: its architecture's own linear head (the default), or
dense layers over the first-token vector (`TransformerMlpForSequenceClassification`).

The choice is made on the config, before the weights are read: `AutoModelForSequenceClassification.from_pretrained
(model_path, config=classifier_config(...))` then builds the chosen model and fills the encoder from the checkpoint.
"""

from __future__ import annotations

import logging

from transformers import PretrainedConfig

from modeling import problem_types
from modeling.configuration_transformer_mlp import TransformerMlpConfig
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

CLASSIFIER_HEADS = ("linear", "mlp")
WORD_MODEL_TYPES = ("textcls-glove", "textcls-lstm")
# Where each architecture's own linear head reads its dropout from (BERT & co. fall back to hidden_dropout_prob).
LINEAR_DROPOUT_FIELDS = {
    "bert": "classifier_dropout",
    "roberta": "classifier_dropout",
    "xlm-roberta": "classifier_dropout",
    "distilbert": "seq_classif_dropout",
}


def backbone_config(config: PretrainedConfig) -> PretrainedConfig:
    """The encoder's own config: the one an MLP-head model wraps under `encoder`, else `config` itself."""
    return config.encoder if isinstance(config, TransformerMlpConfig) else config


def classifier_config(
    config: PretrainedConfig, head: str, hidden_sizes: list[int] | None, dropout: float | None
) -> PretrainedConfig:
    """`config` (a backbone's, with this run's labels) turned into the config of the model with the requested head.

    A linear head keeps the backbone's config (`dropout`, when given, goes to the architecture's own field). An MLP
    head wraps it in a `TransformerMlpConfig`; without `hidden_sizes` it has one dense layer as wide as the encoder,
    the shape of RoBERTa's head. A folder that already holds an MLP model keeps its head.
    """
    if config.model_type in WORD_MODEL_TYPES:
        if head != "linear" or hidden_sizes or dropout is not None:
            raise TextclsError(
                f"classifier_head, classifier_hidden_sizes and classifier_dropout are for transformer backbones; "
                f"this folder holds a {config.model_type} model, whose dense layers and dropout are its own "
                "hidden_sizes and dropout (set when it was built with model_type glove or lstm)."
            )
        return config
    if isinstance(config, TransformerMlpConfig):
        return _saved_mlp_config(config, head, hidden_sizes, dropout)
    if head == "linear":
        if dropout is not None:
            name = LINEAR_DROPOUT_FIELDS.get(config.model_type)
            if name is None:
                raise TextclsError(
                    f"classifier_dropout with the linear head is known for {', '.join(LINEAR_DROPOUT_FIELDS)} "
                    f"backbones, not {config.model_type!r}; leave it out, or use classifier_head 'mlp'."
                )
            setattr(config, name, dropout)
        return config
    if dropout is None:
        dropout = backbone_classifier_dropout(config)
    sizes = list(hidden_sizes) if hidden_sizes else [config.hidden_size]
    logger.info("MLP classification head: dense layers %s, dropout %.2f", sizes, dropout)
    mlp_config = TransformerMlpConfig(encoder=config, classifier_hidden_sizes=sizes, classifier_dropout=dropout)
    return problem_types.apply_fields(mlp_config, problem_types.fields_of(config))  # this run's labels, weights...


def backbone_classifier_dropout(config: PretrainedConfig) -> float:
    """The dropout the architecture's own head would use, so that only the head's shape changes."""
    for name in ("classifier_dropout", "seq_classif_dropout", "hidden_dropout_prob", "dropout"):
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.1


def _saved_mlp_config(
    config: TransformerMlpConfig, head: str, hidden_sizes: list[int] | None, dropout: float | None
) -> TransformerMlpConfig:
    """A model trained with an MLP head, read again (to train further or evaluate): its head's layers stay."""
    if hidden_sizes and list(hidden_sizes) != config.classifier_hidden_sizes:
        raise TextclsError(
            f"this folder holds a model with classifier_hidden_sizes {config.classifier_hidden_sizes}, not "
            f"{list(hidden_sizes)}: leave classifier_hidden_sizes out to keep its head, or start from the backbone "
            "for a new one."
        )
    if head == "linear":
        logger.info("the model keeps its MLP head %s", config.classifier_hidden_sizes)
    if dropout is not None:
        config.classifier_dropout = dropout
    return config
