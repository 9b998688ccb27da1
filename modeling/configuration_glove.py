"""GloVe mean-pool classifier configuration.

This file is copied next to the weights by `save_pretrained` and imported by transformers when a saved model is
loaded with `trust_remote_code=True`, so it imports nothing from this project.
"""

from __future__ import annotations

from dataclasses import field

from transformers import PretrainedConfig

ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
EMBEDDING_INITS = ("pretrained", "random")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")


def _check_probability(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")


class GloveConfig(PretrainedConfig):
    r"""Configuration of [`GloveModel`]: word embeddings, mean-pooled over the real tokens, then dense layers.

    Args:
        vocab_size: rows of the embedding matrix (the word tokenizer's vocabulary, specials included).
        embedding_dim: width of the word vectors (50 for glove.6B.50d).
        freeze_embeddings: keep the (pretrained) word vectors fixed during training.
        hidden_sizes: widths of the dense layers after pooling; empty means the mean itself feeds the classifier.
        hidden_act: activation after each dense layer.
        dropout: dropout before every dense layer and before the classifier.
        embedding_init: where the embedding matrix came from, "pretrained" or "random" (recorded for the record).
        pad_token_id: id of the padding token, whose embedding row stays zero.
        initializer_range: standard deviation of the normal initialisation of randomly initialised embeddings.

    `num_labels`, `id2label` and `label2id` are the usual `PretrainedConfig` keyword arguments.
    """

    model_type = "textcls-glove"

    vocab_size: int = 20000
    embedding_dim: int = 50
    freeze_embeddings: bool = False
    hidden_sizes: list[int] = field(default_factory=list)
    hidden_act: str = "relu"
    dropout: float = 0.1
    embedding_init: str = "random"
    pad_token_id: int | None = 0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        _check_positive_int("vocab_size", self.vocab_size)
        _check_positive_int("embedding_dim", self.embedding_dim)
        _check_bool("freeze_embeddings", self.freeze_embeddings)
        if not isinstance(self.hidden_sizes, (list, tuple)):
            raise ValueError(f"hidden_sizes must be a list of positive integers; got {self.hidden_sizes!r}")
        self.hidden_sizes = list(self.hidden_sizes)
        for size in self.hidden_sizes:
            _check_positive_int("every entry of hidden_sizes", size)
        _check_choice("hidden_act", self.hidden_act, ACTIVATIONS)
        _check_probability("dropout", self.dropout)
        _check_choice("embedding_init", self.embedding_init, EMBEDDING_INITS)
        super().__post_init__(**kwargs)


__all__ = ["GloveConfig"]
