"""RNN (LSTM, GRU or Elman RNN) classifier configuration.

This file is copied next to the weights by `save_pretrained` and imported by transformers when a saved model is
loaded with `trust_remote_code=True`, so it imports nothing from this project.
"""

from __future__ import annotations

from transformers import PretrainedConfig

CELLS = ("lstm", "gru", "rnn")
POOLINGS = ("last", "mean", "max")
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


class LstmConfig(PretrainedConfig):
    r"""Configuration of [`LstmModel`]: word embeddings read by a recurrent network, pooled into one vector.

    Args:
        vocab_size: rows of the embedding matrix (the word tokenizer's vocabulary, specials included).
        embedding_dim: width of the word vectors (50 for glove.6B.50d).
        cell: the recurrent unit, "lstm", "gru" or "rnn" (tanh Elman RNN).
        hidden_size: width of the recurrent state in each direction.
        num_layers: stacked recurrent layers.
        bidirectional: also read the text right to left; the document vector is then twice `hidden_size` wide.
        dropout: dropout between stacked recurrent layers and before the classifier.
        embedding_dropout: word dropout in training: each token's whole vector is zeroed with this probability
            (the kept ones scaled by 1 / (1 - p)) before the recurrent layers, so that no single word decides.
        pooling: how the per-token outputs become one document vector: "last" (the final state of each
            direction, concatenated), "mean" or "max" (over the real tokens only).
        freeze_embeddings: keep the (pretrained) word vectors fixed during training.
        embedding_init: where the embedding matrix came from, "pretrained" or "random" (recorded for the record).
        pad_token_id: id of the padding token, whose embedding row stays zero.
        initializer_range: standard deviation of the normal initialisation of randomly initialised embeddings.

    `num_labels`, `id2label` and `label2id` are the usual `PretrainedConfig` keyword arguments.
    """

    model_type = "textcls-lstm"

    vocab_size: int = 20000
    embedding_dim: int = 50
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.1
    embedding_dropout: float = 0.0
    pooling: str = "last"
    freeze_embeddings: bool = False
    embedding_init: str = "random"
    pad_token_id: int | None = 0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        _check_positive_int("vocab_size", self.vocab_size)
        _check_positive_int("embedding_dim", self.embedding_dim)
        _check_choice("cell", self.cell, CELLS)
        _check_positive_int("hidden_size", self.hidden_size)
        _check_positive_int("num_layers", self.num_layers)
        _check_bool("bidirectional", self.bidirectional)
        _check_probability("dropout", self.dropout)
        _check_probability("embedding_dropout", self.embedding_dropout)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_bool("freeze_embeddings", self.freeze_embeddings)
        _check_choice("embedding_init", self.embedding_init, EMBEDDING_INITS)
        super().__post_init__(**kwargs)


__all__ = ["LstmConfig"]
