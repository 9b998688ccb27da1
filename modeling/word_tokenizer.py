"""A word-level tokenizer that splits text the way gensim's `simple_preprocess` does, as a `PreTrainedTokenizerFast`.

Word-vector models need the words their vectors were trained on; gensim's `simple_preprocess` is the usual way to
get them. Building the same split from `tokenizers` pieces gives a fast tokenizer that `save_pretrained`,
`AutoTokenizer`, `datasets.map` and `pipeline` handle like any other, with no custom code in the saved folder.

gensim lowercases, keeps the runs matched by `((?!\\d)\\w)+` (letters, underscores and non-decimal numerals such
as "²" or "½", never decimal digits), and drops those shorter than 2 or longer than 15 characters or starting with
"_". Here a `Lowercase` normaliser and one `Split` pre-tokenizer do the same; its regex spells `(?!\\d)\\w` as
Unicode categories (L, Nl, No and "_"), which matches Python's definition for every character Python's Unicode
database knows (checked over all code points in tests/test_word_tokenizer.py). Two differences remain, and words
affected by them are kept out of the vocabulary, so they become [UNK] instead of a wrong vector:

- characters that the Rust regex engine's newer Unicode tables assign but Python's do not;
- a capital sigma at the end of a word: Python lowercases it to "ς" by context, `tokenizers` always to "σ".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD_TOKEN, UNK_TOKEN, SEP_TOKEN = "[PAD]", "[UNK]", "[SEP]"
MIN_WORD_LENGTH, MAX_WORD_LENGTH = 2, 15  # simple_preprocess's defaults

_WORD_CHAR = r"[\p{L}\p{Nl}\p{No}_]"
# a whole run of word characters, 2 to 15 long, not starting with "_"
WORD_PATTERN = (
    rf"(?<!{_WORD_CHAR})[\p{{L}}\p{{Nl}}\p{{No}}]{_WORD_CHAR}{{{MIN_WORD_LENGTH - 1},{MAX_WORD_LENGTH - 1}}}"
    rf"(?!{_WORD_CHAR})"
)


def gensim_like_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Keep the words `simple_preprocess` keeps; drop everything else (punctuation, digits, too short or long)."""
    return pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True)


def splits_like_simple_preprocess(tokenizer: PreTrainedTokenizerFast) -> bool:
    """True when `tokenizer` lowercases and splits as this module's tokenizers do (so that it needs no text cleaned by
    simple_preprocess first: data_scripts.text_cleaning.TextCleaner.for_word_tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    state = json.loads(backend.to_str())
    reference = Tokenizer(models.WordLevel(vocab={UNK_TOKEN: 0}, unk_token=UNK_TOKEN))
    reference.normalizer = normalizers.Lowercase()
    reference.pre_tokenizer = gensim_like_pre_tokenizer()
    expected = json.loads(reference.to_str())
    return all(state.get(part) == expected[part] for part in ("normalizer", "pre_tokenizer"))


# ASCII letters lowercased, "_" kept, every other byte a space: then a split at spaces gives gensim's runs of a text.
_ASCII_WORD_BYTES = bytes(
    byte + 32 if 65 <= byte <= 90 else byte if 97 <= byte <= 122 or byte == 95 else 32 for byte in range(256)
)


class AsciiWordIds:
    """The ids a word tokenizer of this module gives ASCII texts, for a whole batch at once: one `bytes.translate`
    over the batch's UTF-8 bytes, then pyarrow's string kernels (split, length filter, hash look-up in the
    vocabulary) over one Arrow array, with no Python work per word or per text. Several times faster than the
    tokenizer's Unicode regex.

    On ASCII text the tokenizer's words are the runs of letters and "_" (digits and all else split them), lowercased,
    2 to 15 long, not starting with "_"; each is its vocabulary id or [UNK]. tests/test_word_reading_fast_path.py
    checks the ids against the tokenizer's on real corpora.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast):
        if not splits_like_simple_preprocess(tokenizer):
            raise ValueError("AsciiWordIds needs a tokenizer built by modeling.word_tokenizer")
        # Only ASCII words can come out of an ASCII text; [PAD] and [UNK] cannot (brackets split words).
        # in id order: get_vocab's order changes from process to process, and datasets hashes this object
        words = sorted(
            ((word, index) for word, index in tokenizer.get_vocab().items() if word.isascii()), key=lambda pair: pair[1]
        )
        self.words = pa.array([word for word, _ in words], pa.large_string())
        # position in `words` -> id; one more entry, [UNK], for the words not found (position -1)
        self.ids_of_positions = np.array([index for _, index in words] + [tokenizer.unk_token_id], dtype=np.int64)

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the ASCII `texts`, concatenated in text order (int64), and how many ids each text has."""
        texts = pa.array(texts, pa.large_string())  # int64 offsets: a batch may exceed 2 GiB
        if not len(texts):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if texts.null_count or not pc.all(pc.string_is_ascii(texts)).as_py():
            raise ValueError("AsciiWordIds reads ASCII texts only (give the others to the tokenizer)")
        _, offsets, data = texts.buffers()
        if data is None:  # only empty texts
            return np.zeros(0, dtype=np.int64), np.zeros(len(texts), dtype=np.int64)
        letters = pa.py_buffer(data.to_pybytes().translate(_ASCII_WORD_BYTES))  # ASCII: one byte per character
        runs = pc.ascii_split_whitespace(
            pa.Array.from_buffers(pa.large_string(), len(texts), [None, offsets, letters], offset=texts.offset)
        )
        words = pc.list_flatten(runs)
        lengths = pc.binary_length(words)  # ASCII: bytes are characters
        kept = pc.and_(
            pc.and_(pc.greater_equal(lengths, MIN_WORD_LENGTH), pc.less_equal(lengths, MAX_WORD_LENGTH)),
            pc.invert(pc.starts_with(words, "_")),
        )
        positions = pc.fill_null(pc.index_in(words.filter(kept), value_set=self.words), -1).to_numpy()
        rows = pc.list_parent_indices(runs).filter(kept).to_numpy()
        return self.ids_of_positions[positions], np.bincount(rows, minlength=len(texts)).astype(np.int64)


def split_words(text: str) -> list[str]:
    """The words of `text` as the tokenizer sees them (lowercased); equal to `simple_preprocess(text)` but for the
    two differences in the module docstring."""
    normalized = normalizers.Lowercase().normalize_str(text)
    return [word for word, _ in gensim_like_pre_tokenizer().pre_tokenize_str(normalized)]


def is_gensim_equivalent(word: str) -> bool:
    """True when gensim produces `word` from any text in which the tokenizer produces it (see module docstring)."""
    from gensim.utils import simple_preprocess  # gensim is a second of start-up: imported by the runs that need it

    if simple_preprocess(word) != [word]:
        return False
    # "σ" not followed by a letter may have been a final capital sigma, which Python writes "ς"
    return all(word[i + 1 : i + 2].isalpha() for i, char in enumerate(word) if char == "σ")


def count_words(texts: Iterable[str]) -> Counter[str]:
    """How often each word occurs in `texts`, split as the tokenizer splits."""
    splitter, lowercase = gensim_like_pre_tokenizer(), normalizers.Lowercase()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in splitter.pre_tokenize_str(lowercase.normalize_str(text)))
    return counts


def build_word_tokenizer(texts: Iterable[str], **settings) -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer whose vocabulary is the words of `texts` (read once, one at a time: a datasets Column
    streams from disk); `settings` are those of `word_tokenizer_from_counts`, which owns them and their defaults."""
    return word_tokenizer_from_counts(count_words(texts), **settings)


def word_tokenizer_from_counts(
    counts: Counter[str],
    keep_word: Callable[[str], bool] | None = None,
    max_vocab_size: int = 20000,
    min_frequency: int = 1,
    model_max_length: int = 512,
    text_pair: bool = False,
) -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer whose vocabulary is the counted words (`count_words`) for which `keep_word` is true.

    With `text_pair`, `tokenizer(text, text_pair)` reads the two texts joined by a [SEP] token (id 2, its own
    trained vector), so the model can tell where the first ends; a single text has no special tokens either way.

    `keep_word` is typically "has a pretrained vector", so that every id but [UNK] gets one. Words are ordered by
    frequency (ties alphabetically), kept when they occur at least `min_frequency` times, and capped so that the
    whole vocabulary, [PAD] (id 0) and [UNK] (id 1) included, has at most `max_vocab_size` entries.
    """
    if max_vocab_size < 3:
        raise ValueError(f"max_vocab_size must be at least 3 ([PAD], [UNK] and one word); got {max_vocab_size}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be a positive integer; got {min_frequency}")
    words = sorted(
        (
            word
            for word, count in counts.items()
            if count >= min_frequency and is_gensim_equivalent(word) and (keep_word is None or keep_word(word))
        ),
        key=lambda word: (-counts[word], word),
    )
    vocab = {PAD_TOKEN: 0, UNK_TOKEN: 1}
    if text_pair:
        vocab[SEP_TOKEN] = 2
    for word in words[: max_vocab_size - len(vocab)]:
        vocab[word] = len(vocab)

    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = gensim_like_pre_tokenizer()
    if text_pair:
        backend.post_processor = processors.TemplateProcessing(
            single="$A", pair=f"$A {SEP_TOKEN} $B", special_tokens=[(SEP_TOKEN, vocab[SEP_TOKEN])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        sep_token=SEP_TOKEN if text_pair else None,
        model_max_length=model_max_length,
        padding_side="right",  # the RNN packs sequences by length and needs the real tokens first
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )
