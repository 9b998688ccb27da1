"""Build a word-vector classifier and its tokenizer from the training texts: what `run_classification.py` calls
instead of `from_pretrained` when the model is "glove" or "lstm"."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerFast

from modeling.configuration_glove import GloveConfig
from modeling.configuration_lstm import LstmConfig
from modeling.embeddings import WordVectors, embedding_matrix, load_word_vectors
from modeling.modeling_glove import GloveForSequenceClassification
from modeling.modeling_lstm import LstmForSequenceClassification
from modeling.problem_types import SINGLE_LABEL, config_fields
from modeling.word_tokenizer import count_words, word_tokenizer_from_counts
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

WORD_MODELS = {
    "glove": (GloveConfig, GloveForSequenceClassification),
    "lstm": (LstmConfig, LstmForSequenceClassification),
}
RANDOM_INIT = "random"
# set here from the data and the vectors, so not accepted in model_kwargs
DERIVED_FIELDS = ("vocab_size", "pad_token_id", "embedding_init")


def build_word_model(
    model_type: str,
    train_texts: Iterable[str],
    label_names: Sequence[str],
    word_vectors: str | None = "glove.6B.50d",
    max_vocab_size: int = 20000,
    oov_min_count: int = 0,
    model_kwargs: dict[str, Any] | None = None,
    model_max_length: int = 512,
    cache_dir: str | None = None,
    problem: dict[str, Any] | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A freshly initialised GloVe or RNN classifier and the word tokenizer it reads.

    The vocabulary is the training texts' words that have a pretrained vector (every word when `word_vectors` is
    None or "random"), most frequent first, at most `max_vocab_size` entries; the embedding layer starts from those
    vectors. With `oov_min_count` N >= 1 it also keeps the words without a pretrained vector seen at least N times,
    which start from small random vectors and are learned (0: they read as [UNK]). `model_kwargs` sets the
    config's other fields (`hidden_size`, `cell`, `pooling`, `freeze_embeddings`, ...; `embedding_dim` only with
    random vectors, since pretrained vectors fix it). `model_max_length` is where the saved tokenizer truncates
    when a pipeline asks it to: these models have no position limit of their own.
    `cache_dir` is where parsed vector files are cached when their own folder is read-only. `train_texts` is read
    once, one text at a time: a datasets Column streams from disk, so memory holds the word counts, not the corpus.
    `problem` is `problem_types.config_fields(...)` (default: single-label over `label_names`); with its
    `text_pair`, the tokenizer joins a pair with [SEP] (pass both texts of every pair in `train_texts`).
    """
    if model_type not in WORD_MODELS:
        raise TextclsError(f"model_type must be one of {', '.join(map(repr, WORD_MODELS))}; got {model_type!r}")
    config_class, model_class = WORD_MODELS[model_type]
    model_kwargs = dict(model_kwargs or {})
    allowed = [name for name in config_class.__annotations__ if name not in DERIVED_FIELDS]
    unknown = sorted(set(model_kwargs) - set(allowed))
    if unknown:
        raise TextclsError(
            f"unknown setting(s) for the {model_type} model: {', '.join(unknown)}; known: {', '.join(allowed)}"
        )
    if not label_names:
        raise TextclsError("label_names is empty: a classifier needs at least one class")
    if problem is None:
        problem = config_fields(SINGLE_LABEL, label_names)
    _make_config(model_type, config_class, model_kwargs)  # fail on a bad setting before loading any vectors

    vectors: WordVectors | None = None
    if word_vectors is not None and word_vectors != RANDOM_INIT:
        vectors = load_word_vectors(word_vectors, cache_dir=cache_dir)
        if model_kwargs.get("embedding_dim", vectors.dim) != vectors.dim:
            raise TextclsError(
                f"embedding_dim={model_kwargs['embedding_dim']} does not match the {vectors.dim} dimensions of "
                f"word_vectors={word_vectors!r}; leave embedding_dim out, or use word_vectors='random'"
            )
        model_kwargs["embedding_dim"] = vectors.dim
    elif model_kwargs.get("freeze_embeddings"):
        logger.warning("freeze_embeddings with random word vectors: the embeddings stay random features")

    if oov_min_count < 0:
        raise TextclsError(f"oov_min_count={oov_min_count}: expected 0 (no words without a vector) or more")
    counts = count_words(train_texts)
    tokenizer = word_tokenizer_from_counts(
        counts,
        keep_word=_vocabulary_filter(vectors, counts, oov_min_count),
        max_vocab_size=max_vocab_size,
        model_max_length=model_max_length,
        text_pair=problem["text_pair"],
    )
    config = _make_config(
        model_type,
        config_class,
        model_kwargs,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        embedding_init="pretrained" if vectors is not None else "random",
        **problem,
    )
    model = model_class(config)
    if vectors is not None:
        model.load_embedding_matrix(embedding_matrix(tokenizer.get_vocab(), vectors))

    in_vocabulary, total = _vocabulary_coverage(tokenizer, counts)
    if vectors is None:
        source = "random vectors"
    else:
        without = sum(word not in vectors.index for word in tokenizer.get_vocab()) - len(tokenizer.all_special_tokens)
        source = f"those with a vector in {vectors.source}" + (
            f", and {without} without one seen at least {oov_min_count} times, from random vectors"
            if oov_min_count
            else ""
        )
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    logger.info(
        "%s model: vocabulary of %d words (%s); %.1f%% of the %d training tokens are in it%s; "
        "%d trainable parameters of %d",
        model_type,
        len(tokenizer),
        source,
        100.0 * in_vocabulary / max(total, 1),
        total,
        " and so have a pretrained vector" if vectors is not None and not oov_min_count else "",
        trainable,
        sum(parameter.numel() for parameter in model.parameters()),
    )
    return model, tokenizer


def _vocabulary_filter(
    vectors: WordVectors | None, counts: Counter[str], oov_min_count: int
) -> Callable[[str], bool] | None:
    """Which counted words the vocabulary keeps: all of them without pretrained vectors; else those with a vector,
    and those without one seen at least `oov_min_count` times (none when it is 0)."""
    if vectors is None:
        return None
    if not oov_min_count:
        return vectors.index.__contains__
    return lambda word: word in vectors.index or counts[word] >= oov_min_count


def _make_config(model_type: str, config_class: type, model_kwargs: dict[str, Any], **derived: Any):
    """The config, with the config's ValueError for a bad setting turned into the user-facing error type."""
    try:
        return config_class(**derived, **model_kwargs)
    except ValueError as error:
        raise TextclsError(f"invalid {model_type} model setting: {error}") from error


def _vocabulary_coverage(tokenizer: PreTrainedTokenizerFast, counts: Counter[str]) -> tuple[int, int]:
    """(tokens that are not [UNK], all tokens) of the texts `counts` counted: the tokenizer splits them into
    exactly those words, and a word is [UNK] when it is not in the vocabulary."""
    vocabulary = tokenizer.get_vocab()
    return sum(count for word, count in counts.items() if word in vocabulary), sum(counts.values())
