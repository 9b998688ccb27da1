"""Turn the corpus's text into model inputs with `datasets.map` (batched, cached on disk).

Texts are not padded here: the data collator pads each batch to its longest member, which on short
texts is several times faster than padding everything to max_seq_length.

Pairs (a `text_pair` column) are encoded as `tokenizer(text, text_pair)`, the tokenizer's own pair template
([CLS] a [SEP] b [SEP] with token_type_ids for BERT; a [SEP] b for the word tokenizer), cutting the longer text
first. Multi-label labels (ids of a row's labels) become the multi-hot float vector the loss reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from datasets import DatasetDict
from transformers import PreTrainedTokenizerBase

from data_scripts.labels import label_names_of_features, multi_hot, problem_type_of_features
from data_scripts.map_cache import map_corpus
from modeling.problem_types import MULTI_LABEL
from modeling.word_tokenizer import AsciiWordIds, splits_like_simple_preprocess
from textcls_errors import TextclsError

# Sun et al. (2019), "How to Fine-Tune BERT for Text Classification": head 128 + tail 382 of 510.
PAPER_HEAD_SHARE = 128 / 510


def split_budget(max_seq_length: int, num_special_tokens: int, side: str, head_tokens: int | None) -> tuple[int, int]:
    """How many content tokens to keep from the start and from the end of a long text."""
    budget = max_seq_length - num_special_tokens
    if side == "head":
        return budget, 0
    if side == "tail":
        return 0, budget
    head = round(budget * PAPER_HEAD_SHARE) if head_tokens is None else min(head_tokens, budget)
    return head, budget - head


def truncate_encoding(encoding: dict[str, list], special_mask: list[int], head: int, tail: int) -> dict[str, list]:
    """Keep the leading/trailing special tokens and `head` + `tail` content tokens of one encoded text."""
    leading = next((i for i, special in enumerate(special_mask) if not special), len(special_mask))
    trailing = next((i for i, special in enumerate(reversed(special_mask)) if not special), 0)
    end = len(special_mask) - trailing
    if end - leading <= head + tail:
        return encoding
    keep = list(range(leading + head)) + list(range(end - tail, len(special_mask)))
    return {key: [values[i] for i in keep] for key, values in encoding.items()}


def make_plain_ids_function(
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    truncation_side: str = "head",
    head_tokens: int | None = None,
) -> Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]] | None:
    """For a tokenizer that adds no special tokens to a text and whose inputs are input_ids and attention_mask (the
    word tokenizer): texts -> their ids, cut as `make_tokenize_function` cuts, concatenated in text order (int64),
    and each text's count; no Python list per text. None for other tokenizers (and pairs, which need a separator).

    The ids are the tokenizer's: its Rust backend without transformers' per-row conversion, and for the word
    tokenizer's ASCII texts `AsciiWordIds` (a whole batch through pyarrow's string kernels).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not (
        backend is not None
        and tokenizer.num_special_tokens_to_add() == 0
        and list(tokenizer.model_input_names) == ["input_ids", "attention_mask"]
    ):
        return None
    head, tail = split_budget(max_seq_length, 0, truncation_side, head_tokens)
    ascii_ids = AsciiWordIds(tokenizer) if splits_like_simple_preprocess(tokenizer) else None

    def plain_ids(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        ascii_rows = np.fromiter(map(str.isascii, texts), bool, len(texts)) if ascii_ids is not None else None
        if ascii_rows is not None and ascii_rows.all():
            ids, lengths = ascii_ids(texts)
        else:
            ids, lengths = _merged_ids(texts, ascii_rows, ascii_ids, backend)
        return _cut_rows(ids, lengths, head, tail)

    return plain_ids


def _merged_ids(texts: list[str], ascii_rows: np.ndarray | None, ascii_ids, backend) -> tuple[np.ndarray, np.ndarray]:
    """Ids of a batch whose texts are not all ASCII: the ASCII ones from `ascii_ids`, the others from the backend."""
    others = np.arange(len(texts)) if ascii_rows is None else np.flatnonzero(~ascii_rows)
    rows: list = [None] * len(texts)
    # transformers leaves a call's truncation and padding set on the Rust tokenizer (and turns them off again at the
    # next call without them, as here): whole texts, unpadded, as training reads them before its own cut
    if backend.truncation is not None:
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    encodings = backend.encode_batch_fast([texts[index] for index in others], add_special_tokens=True)
    for index, encoding in zip(others.tolist(), encodings, strict=True):
        rows[index] = np.asarray(encoding.ids, dtype=np.int64)
    if ascii_rows is not None and ascii_rows.any():
        where = np.flatnonzero(ascii_rows)
        ids, lengths = ascii_ids([texts[index] for index in where])
        for index, row in zip(where.tolist(), np.split(ids, np.cumsum(lengths)[:-1]), strict=True):
            rows[index] = row
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    return (np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)), lengths


def _cut_rows(ids: np.ndarray, lengths: np.ndarray, head: int, tail: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first `head` and last `tail` ids (rows no longer than head + tail kept whole)."""
    if not len(lengths) or lengths.max() <= head + tail:
        return ids, lengths
    row_of = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    row_length = lengths[row_of]
    kept = (row_length <= head + tail) | (position < head) | (position >= row_length - tail)
    return ids[kept], np.minimum(lengths, head + tail)


def make_tokenize_function(
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    truncation_side: str = "head",
    head_tokens: int | None = None,
    pad_to_max_length: bool = False,
    text_pair: bool = False,
    num_labels: int | None = None,
):
    """A batched map function: text (and text_pair) -> input_ids, attention_mask (…), length; with `num_labels`,
    the multi-label `label` (ids per row) -> a multi-hot float vector."""
    head, tail = split_budget(max_seq_length, tokenizer.num_special_tokens_to_add(), truncation_side, head_tokens)
    if text_pair and truncation_side != "head":
        raise TextclsError(
            f"truncation_side={truncation_side!r} cuts one text; a pair is cut longest text first, at its end. "
            "Leave truncation_side at 'head' for text pairs."
        )

    # A tokenizer that adds no special tokens to a single text (the word tokenizer) gives its ids as one flat array
    # (`make_plain_ids_function`): the same ids as tokenizer(...) below, split into rows here.
    plain_ids = None if text_pair else make_plain_ids_function(tokenizer, max_seq_length, truncation_side, head_tokens)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        if text_pair:
            out = tokenize_pairs(batch)
        elif plain_ids is not None:
            ids, lengths = plain_ids(batch["text"])
            rows = [row.tolist() for row in np.split(ids, np.cumsum(lengths)[:-1])] if len(lengths) else []
            out = {"input_ids": rows, "attention_mask": [[1] * len(row) for row in rows]}
        else:
            out = tokenize_texts(batch)
        if pad_to_max_length:
            out = tokenizer.pad(out, padding="max_length", max_length=max_seq_length)
            out = {key: list(values) for key, values in out.items()}
        out["length"] = [len(ids) for ids in out["input_ids"]]
        if num_labels is not None:
            out["label"] = multi_hot(batch["label"], num_labels).tolist()
        return out

    def tokenize_pairs(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(
            batch["text"], batch["text_pair"], truncation="longest_first", max_length=max_seq_length, verbose=False
        )
        return {key: list(values) for key, values in encoded.items()}

    def tokenize_texts(batch: dict[str, list]) -> dict[str, list]:
        # Tokenize whole texts once, then cut: the same code serves head, tail and head+tail.
        full = tokenizer(batch["text"], truncation=False, return_special_tokens_mask=True, verbose=False)
        columns = [key for key in full if key != "special_tokens_mask"]
        out: dict[str, list] = {key: [] for key in columns}
        for i, special_mask in enumerate(full["special_tokens_mask"]):
            cut = truncate_encoding({key: full[key][i] for key in columns}, special_mask, head, tail)
            for key in columns:
                out[key].append(cut[key])
        return out

    return tokenize


def tokenize_corpus(
    corpus: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int,
    truncation_side: str = "head",
    head_tokens: int | None = None,
    pad_to_max_length: bool = False,
    num_proc: int | None = None,
    overwrite_cache: bool = False,
    cache_dir: str | None = None,
) -> DatasetDict:
    """Tokenize every split; keeps `label` (multi-label: as a multi-hot float vector) and adds `length` (used by
    length-grouped batching)."""
    max_seq_length = min(max_seq_length, tokenizer.model_max_length)
    train = next(iter(corpus.values()))
    text_pair = "text_pair" in train.column_names
    multi_label = problem_type_of_features(train.features) == MULTI_LABEL
    num_labels = len(label_names_of_features(train.features)) if multi_label else None
    tokenize = make_tokenize_function(
        tokenizer, max_seq_length, truncation_side, head_tokens, pad_to_max_length, text_pair, num_labels
    )
    return map_corpus(
        corpus,
        tokenize,
        num_proc=num_proc,
        cache_dir=cache_dir,
        remove_columns=["text", "text_pair"] if text_pair else ["text"],
        load_from_cache_file=not overwrite_cache,
        desc="Tokenizing",
    )
