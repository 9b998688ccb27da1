"""Turn the corpus's text into model inputs with `datasets.map` (batched, cached on disk).

Texts are not padded here: the data collator pads each batch to its longest member, which on short
texts is several times faster than padding everything to max_seq_length.

Pairs (a `text_pair` column) are encoded as `tokenizer(text, text_pair)`, the tokenizer's own pair template
([CLS] a [SEP] b [SEP] with token_type_ids for BERT; a [SEP] b for the word tokenizer), cutting the longer text
first. Multi-label labels (ids of a row's labels) become the multi-hot float vector the loss reads.
"""

from __future__ import annotations

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

    # A tokenizer that adds no special tokens to a single text (the word tokenizer) is run straight on its Rust
    # backend: ids only, no offsets, no per-row dicts, the cut a slice; the same ids as tokenizer(...) below. The
    # word tokenizer's ids of ASCII texts come quicker still from C string methods (AsciiWordIds).
    backend = getattr(tokenizer, "backend_tokenizer", None)
    plain_ids = (
        backend is not None
        and not text_pair
        and tokenizer.num_special_tokens_to_add() == 0
        and list(tokenizer.model_input_names) == ["input_ids", "attention_mask"]
    )
    ascii_ids = AsciiWordIds(tokenizer) if plain_ids and splits_like_simple_preprocess(tokenizer) else None

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        if text_pair:
            out = tokenize_pairs(batch)
        elif plain_ids and backend.truncation is None and backend.padding is None:
            out = tokenize_plain(batch)
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

    def tokenize_plain(batch: dict[str, list]) -> dict[str, list]:
        texts = batch["text"]
        ids = [ascii_ids(text) for text in texts] if ascii_ids is not None else [None] * len(texts)
        others = [index for index, row in enumerate(ids) if row is None]
        if others:
            encodings = backend.encode_batch_fast([texts[index] for index in others], add_special_tokens=True)
            for index, encoding in zip(others, encodings, strict=True):
                ids[index] = encoding.ids
        ids = [row if len(row) <= head + tail else row[:head] + row[len(row) - tail :] for row in ids]
        return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}

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
