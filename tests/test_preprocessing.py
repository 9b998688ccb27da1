"""Tokenization: which tokens survive truncation, padding, and the on-disk cache."""

import os

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, load_from_disk
from transformers import AutoTokenizer

from tests.tiny_models import build_tiny_model
from textcls_errors import TextclsError
from training.preprocessing import make_tokenize_function, split_budget, tokenize_corpus

WORDS = [f"w{i}" for i in range(30)]
LONG_TEXT = " ".join(WORDS)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("bert"), "bert", [LONG_TEXT] * 3)
    return AutoTokenizer.from_pretrained(folder)


def kept_words(tokenizer, max_len, side, head_tokens=None):
    tokenize = make_tokenize_function(tokenizer, max_len, side, head_tokens)
    ids = tokenize({"text": [LONG_TEXT]})["input_ids"][0]
    return tokenizer.convert_ids_to_tokens(ids)


def test_head_tail_and_head_plus_tail_keep_the_right_tokens(tokenizer):
    assert kept_words(tokenizer, 6, "head") == ["[CLS]", "w0", "w1", "w2", "w3", "[SEP]"]
    assert kept_words(tokenizer, 6, "tail") == ["[CLS]", "w26", "w27", "w28", "w29", "[SEP]"]
    assert kept_words(tokenizer, 7, "head+tail", head_tokens=2) == [
        "[CLS]",
        "w0",
        "w1",
        "w27",
        "w28",
        "w29",
        "[SEP]",
    ]


def test_head_plus_tail_default_is_the_papers_ratio():
    # 512 tokens with [CLS] and [SEP]: 128 from the start and 382 from the end, as in Sun et al. (2019)
    assert split_budget(512, 2, "head+tail", None) == (128, 382)
    assert split_budget(256, 2, "head+tail", None) == (64, 190)


def test_short_texts_are_not_touched(tokenizer):
    tokenize = make_tokenize_function(tokenizer, 64, "head+tail")
    out = tokenize({"text": ["w1 w2", LONG_TEXT]})
    assert tokenizer.convert_ids_to_tokens(out["input_ids"][0]) == ["[CLS]", "w1", "w2", "[SEP]"]
    assert out["length"] == [4, 32]
    assert out["attention_mask"][0] == [1, 1, 1, 1]


def test_pad_to_max_length_pads_every_row(tokenizer):
    out = make_tokenize_function(tokenizer, 16, "head", pad_to_max_length=True)({"text": ["w1 w2", LONG_TEXT]})
    assert [len(ids) for ids in out["input_ids"]] == [16, 16]
    assert out["attention_mask"][0] == [1] * 4 + [0] * 12


@pytest.mark.parametrize("storage", ["in memory", "on disk"])
def test_second_run_reuses_the_tokenized_cache(tmp_path, storage):
    folder = build_tiny_model(tmp_path / "model", "bert", [LONG_TEXT] * 3)
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})

    def read_corpus():  # 20NG and AG News are built in memory; load_dataset("csv") corpora live on disk
        rows = {"text": [LONG_TEXT, "w1 w2"], "label": [0, 1]}
        corpus = DatasetDict({"train": Dataset.from_dict(rows, features=features)})
        if storage == "on disk":
            corpus.save_to_disk(tmp_path / "corpus")
            corpus = load_from_disk(tmp_path / "corpus")
        return corpus

    def run():  # what a fresh process does: read the corpus and the tokenizer, then tokenize
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return tokenize_corpus(read_corpus(), tokenizer, max_seq_length=16, cache_dir=str(tmp_path / "cache"))

    first = run()["train"]
    cache_file = first.cache_files[0]["filename"]
    written_at = os.path.getmtime(cache_file)
    second = run()["train"]
    assert run()["train"].cache_files  # not tokenized in memory only
    assert second.cache_files[0]["filename"] == cache_file
    assert os.path.getmtime(cache_file) == written_at
    assert second["input_ids"] == first["input_ids"]
    assert set(second.column_names) == {"label", "input_ids", "attention_mask", "length"}


def test_pairs_use_the_tokenizers_template_and_cut_the_longer_text_first():
    """MiniLM's (BERT's) tokenizer: [CLS] a [SEP] b [SEP], token_type_ids 1 on the second text; multi-label ids
    become a multi-hot vector."""
    from datasets import List

    from modeling.hub import resolve_model_path

    minilm = AutoTokenizer.from_pretrained(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"))
    features = Features(
        {"text": Value("string"), "text_pair": Value("string"), "label": List(ClassLabel(names=["x", "y", "z"]))}
    )
    rows = {"text": ["short one", LONG_TEXT], "text_pair": [LONG_TEXT, "tiny"], "label": [[0, 2], []]}
    tokenized = tokenize_corpus(DatasetDict(train=Dataset.from_dict(rows, features)), minilm, max_seq_length=16)
    first, second = tokenized["train"]
    tokens = minilm.convert_ids_to_tokens(first["input_ids"])
    assert len(tokens) == 16 and tokens[:5] == ["[CLS]", "short", "one", "[SEP]", "w"]
    assert first["token_type_ids"][: tokens.index("[SEP]") + 1] == [0] * 4 and first["token_type_ids"][-1] == 1
    tokens = minilm.convert_ids_to_tokens(second["input_ids"])
    assert tokens[-3:] == ["[SEP]", "tiny", "[SEP]"]  # the long first text was cut, the short second kept
    assert first["label"] == [1.0, 0.0, 1.0] and second["label"] == [0.0, 0.0, 0.0]
    with pytest.raises(TextclsError, match="Leave truncation_side at 'head' for text pairs"):
        make_tokenize_function(minilm, 16, "head+tail", text_pair=True)
