"""The word tokenizer: gensim's simple_preprocess split, built from `tokenizers` pieces, and its vocabulary."""

import sys
import unicodedata

import pytest
from gensim.utils import simple_preprocess
from transformers import AutoTokenizer

from modeling.word_tokenizer import build_word_tokenizer, count_words, is_gensim_equivalent, split_words

VARIED_TEXTS = [
    "Hello, World! It's 2024; the year-end report (v2.0) is due.",
    "abc123def 42nd 3rd x1y2 ²squared ½half x² ⅓ Ⅻ roman",
    "Café naïve RÉSUMÉ über Straße façade Ångström ĳssel",
    "snake_case _private trailing_ __dunder__ a_b ___",
    "a I ok supercalifragilistic antidisestablishment exactly15letters sixteenletterss",
    "e-mail: john.doe@example.com https://example.org/path?q=1&x=y #hashtag @user",
    "Tabs\tand\nnewlines\r\nand  double  spaces\u00a0nbsp\u2003emspace",
    "日本語のテキスト 中文文本 한국어 텍스트 русский текст ελληνικά العربية עברית हिन्दी",
    "emoji 😀 test ☃ snow ✓ check “quotes” ‘single’ «guillemets» — dashes – …",
    "decomposed e\u0301cole and combining\u0308 marks, Turkish İstanbul DİYARBAKIR",
    "don't won't y'all rock'n'roll O'Neill",
    "",
    "   ",
    "1234 5678 3.14 1e10",
]


@pytest.mark.parametrize("text", VARIED_TEXTS)
def test_words_are_those_of_gensim_simple_preprocess(text):
    assert split_words(text) == simple_preprocess(text)


def test_the_tokenizer_itself_splits_like_gensim():
    text = " ".join(VARIED_TEXTS)
    tokenizer = build_word_tokenizer([text])
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == simple_preprocess(text)


def test_every_character_python_knows_splits_like_gensim():
    # each character between two letters: a word character joins them into one word, any other splits them
    characters = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF and unicodedata.category(chr(code)) != "Cn"
    ]
    text = " ".join(f"xx{character}yy" for character in characters)
    assert split_words(text) == simple_preprocess(text)


def test_where_tokenizers_and_python_differ_the_word_stays_out_of_the_vocabulary():
    # Python writes a final capital sigma as "ς", tokenizers as "σ"
    assert simple_preprocess("ΟΔΟΣ") == ["οδος"] and split_words("ΟΔΟΣ") == ["οδοσ"]
    tokenizer = build_word_tokenizer(["ΟΔΟΣ οδος σοφια"])
    assert "οδοσ" not in tokenizer.get_vocab()
    assert {"οδος", "σοφια"} <= set(tokenizer.get_vocab())
    # a character newer than Python's Unicode database (U+1C89, Unicode 16) is a letter only to tokenizers
    assert unicodedata.category("\u1c89") == "Cn"
    assert not is_gensim_equivalent("ab\u1c8acd")
    assert is_gensim_equivalent("σοφια") and is_gensim_equivalent("word") and not is_gensim_equivalent("x")


def test_vocabulary_is_kept_words_by_frequency_with_pad_and_unk_first():
    texts = ["apple banana apple cherry", "banana apple date", "elderberry date fig"]
    tokenizer = build_word_tokenizer(texts, keep_word=lambda word: word != "banana", max_vocab_size=6)
    # apple 3; date 2; cherry, elderberry, fig 1 (ties alphabetical); banana has no vector; cap 6 drops fig
    assert tokenizer.get_vocab() == {"[PAD]": 0, "[UNK]": 1, "apple": 2, "date": 3, "cherry": 4, "elderberry": 5}
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1


def test_min_frequency_and_no_filter():
    tokenizer = build_word_tokenizer(["aa bb aa cc aa bb"], min_frequency=2)
    assert tokenizer.get_vocab() == {"[PAD]": 0, "[UNK]": 1, "aa": 2, "bb": 3}
    assert count_words(["Aa aa, AA!", "bb"]) == {"aa": 3, "bb": 1}


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="max_vocab_size"):
        build_word_tokenizer(["aa"], max_vocab_size=2)
    with pytest.raises(ValueError, match="min_frequency"):
        build_word_tokenizer(["aa"], min_frequency=0)


def test_encoding_pads_right_with_a_mask_and_maps_unknown_words_to_unk():
    tokenizer = build_word_tokenizer(["the cat sat", "the dog"], model_max_length=64)
    batch = tokenizer(["The cat SAT on the mat", "the dog"], padding=True)
    vocab = tokenizer.get_vocab()
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"][0] == [vocab["the"], vocab["cat"], vocab["sat"], 1, vocab["the"], 1]
    assert batch["input_ids"][1] == [vocab["the"], vocab["dog"], 0, 0, 0, 0]
    assert batch["attention_mask"][1] == [1, 1, 0, 0, 0, 0]
    assert tokenizer.model_max_length == 64 and tokenizer.padding_side == "right"
    assert tokenizer("")["input_ids"] == []


def test_save_and_auto_tokenizer_round_trip(tmp_path):
    texts = ["The shuttle reached orbit.", "The match ended 3-1 after extra time!", "naïve café"]
    tokenizer = build_word_tokenizer(texts)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded(texts, padding=True).data == tokenizer(texts, padding=True).data
    assert loaded.model_input_names == ["input_ids", "attention_mask"]
    assert (loaded.padding_side, loaded.model_max_length, loaded.pad_token, loaded.unk_token) == (
        "right",
        512,
        "[PAD]",
        "[UNK]",
    )
