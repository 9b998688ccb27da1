"""Configuration of a pretrained transformer encoder with an MLP classification head.

This file is copied next to the weights by `save_pretrained` and imported by transformers when a saved model is
loaded with `trust_remote_code=True`, so it imports nothing from this project.
"""

from __future__ import annotations

from dataclasses import field

from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

ACTIVATIONS = ("gelu", "relu", "tanh", "silu")


class TransformerMlpConfig(PretrainedConfig):
    r"""Configuration of [`TransformerMlpForSequenceClassification`]: any encoder that `AutoModel` builds (BERT,
    RoBERTa, DistilBERT, MiniLM, ...), whose first-token vector feeds dense layers and then the output layer.

    Args:
        encoder: the backbone's own configuration (a `BertConfig`, `RobertaConfig`, ...; a dict when read from JSON).
        classifier_hidden_sizes: widths of the dense layers between the first-token vector and the output layer.
        classifier_activation: activation after each dense layer.
        classifier_dropout: dropout before every dense layer and before the output layer.

    `num_labels`, `id2label` and `label2id` are the usual `PretrainedConfig` keyword arguments.
    """

    model_type = "textcls-transformer-mlp"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PretrainedConfig | dict | None = None
    classifier_hidden_sizes: list[int] = field(default_factory=lambda: [256])
    classifier_activation: str = "gelu"
    classifier_dropout: float = 0.1

    def __post_init__(self, **kwargs):
        sizes = self.classifier_hidden_sizes
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise ValueError(f"classifier_hidden_sizes must be a non-empty list of positive integers; got {sizes!r}")
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"every entry of classifier_hidden_sizes must be a positive integer; got {size!r}")
        self.classifier_hidden_sizes = list(sizes)
        if self.classifier_activation not in ACTIVATIONS:
            raise ValueError(
                f"classifier_activation must be one of {', '.join(ACTIVATIONS)}; got {self.classifier_activation!r}"
            )
        dropout = self.classifier_dropout
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"classifier_dropout must be a number in [0, 1); got {dropout!r}")
        super().__post_init__(**kwargs)


__all__ = ["TransformerMlpConfig"]
