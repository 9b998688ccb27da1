"""The word models' quick reading (the tokenizer cleaning ASCII texts itself, ids from C string methods) gives the
ids and the predictions file that training's reading (gensim's simple_preprocess, then the tokenizer) gives."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from datasets.fingerprint import Hasher
from transformers import AutoTokenizer

import predict
from data_scripts import load_corpus, read_ag_news_csv_dir
from data_scripts.text_cleaning import TextCleaner, TextCleaning, build_cleaner
from inference import TextClassifier
from modeling.word_models import build_word_model
from modeling.word_tokenizer import AsciiWordIds, build_word_tokenizer, splits_like_simple_preprocess
from tests.test_word_tokenizer import VARIED_TEXTS
from tests.tiny_models import build_tiny_model
from training import preprocessing
from training.preprocessing import make_tokenize_function

CLEANING = TextCleaning(simple_preprocess=True)
MAX_LENGTH = 40
EDGE_TEXTS = [
    *VARIED_TEXTS,
    "ΟΔΟΣ ΣΟΦΙΑΣ: the final capital sigma, lowercased by context in Python only",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is long; fifteenletters15 and sixteenletterword and abcdefghijklmno",
    "Müller's café served crème brûlée in Zürich; naïve coöperation",
    "It's the players' 3rd win in 2004 -- 10-2, at 7:30pm (AP) #1 rank &lt;b&gt; fans\\n",
    "x" * 5000 + " tail words after one very long word",
    "word " * 300 + "end",  # longer than MAX_LENGTH: the cut
    "_leading __double trailing_ mid_dle a_ _a __",
]


def reference_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Training's reading: gensim's cleaning, then the tokenizer through transformers, cut at the head."""
    cleaned = build_cleaner(CLEANING)({"text": texts})["text"]
    return tokenizer(cleaned, truncation=True, max_length=MAX_LENGTH)["input_ids"]


def saved_word_model(folder: Path, texts: list[str]) -> Path:
    """A GloVe model (random vectors) on the cleaned texts, recording simple_preprocess and the cut as training does."""
    torch.manual_seed(0)
    cleaned = build_cleaner(CLEANING)({"text": texts})["text"]
    model, tokenizer = build_word_model("glove", cleaned, ["a", "b", "c"], word_vectors=None, max_vocab_size=50_000)
    model.config.text_cleaning = CLEANING.as_config()
    model.config.text_truncation = {"max_seq_length": MAX_LENGTH, "side": "head", "head_tokens": None}
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def assert_fast_reading_is_trainings(folder: Path, texts: list[str]) -> None:
    classifier = TextClassifier(folder, device="cpu")
    assert classifier._tokenizer_cleans  # the quick path is the one under test
    assert classifier.encode(texts)["input_ids"] == reference_ids(classifier.tokenizer, texts)


def test_padded_batches_and_logits_are_trainings(tmp_path):
    """predict's batches come from one flat id array: they equal the tokenizer's ids of training's reading padded by
    transformers' collator, and each row's logits are the model's on that batch."""
    texts = EDGE_TEXTS * 2 + ["", "123 456", "a b c"]  # texts without a single word too
    folder = saved_word_model(tmp_path, EDGE_TEXTS)
    classifier = TextClassifier(folder, device="cpu", backend="torch", batch_size=4)
    reference = classifier.tokenizer.pad({"input_ids": reference_ids(classifier.tokenizer, texts)}, return_tensors="pt")
    batch = classifier.padded_batch(texts)
    assert batch.keys() == reference.keys()
    for name in batch:
        assert torch.equal(batch[name], reference[name]), name
    with torch.no_grad():
        expected = classifier.model(**reference).logits.numpy()
    logits = classifier.logits(texts)  # sorted by length into batches of 4, rows put back in place
    assert np.allclose(logits, expected, rtol=0, atol=1e-6)
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_ascii_texts_are_classified_without_importing_gensim(tmp_path):
    folder = saved_word_model(tmp_path, EDGE_TEXTS)
    code = (
        "import sys\nfrom inference import TextClassifier\n"
        f"classifier = TextClassifier({str(folder)!r}, device='cpu')\n"
        "classifier.predict(['An ASCII text, read by the tokenizer alone.'])\n"
        "assert 'gensim' not in sys.modules\n"
        "classifier.predict(['Ein Text für gensim'])\n"
        "assert 'gensim' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_edge_texts_read_as_in_training(tmp_path):
    folder = saved_word_model(tmp_path, EDGE_TEXTS)
    assert_fast_reading_is_trainings(folder, EDGE_TEXTS)
    # the reason non-ASCII texts are cleaned in Python: the tokenizer alone lowercases a final "Σ" otherwise
    tokenizer = TextClassifier(folder, device="cpu").tokenizer
    assert tokenizer("ΟΔΟΣ")["input_ids"] != reference_ids(tokenizer, ["ΟΔΟΣ"])[0]


def test_ascii_ids_are_the_tokenizers_on_any_ascii_text():
    texts = [text for text in EDGE_TEXTS if text.isascii()] + ["".join(map(chr, range(128))) * 3]
    tokenizer = build_word_tokenizer(texts + ["underscore_ok del"], max_vocab_size=1000)
    ids, lengths = AsciiWordIds(tokenizer)(texts)
    expected = tokenizer(texts)["input_ids"]
    assert lengths.tolist() == [len(row) for row in expected]
    assert ids.tolist() == [index for row in expected for index in row]
    with pytest.raises(ValueError, match="ASCII texts only"):
        AsciiWordIds(tokenizer)(["plain", "café"])


def test_the_map_function_hashes_alike_for_the_same_tokenizer(tmp_path):
    """datasets finds its tokenization cache by hashing the map function: the same saved tokenizer, loaded twice
    (its vocabulary comes back in another order each time), must hash alike."""
    words = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(300)]
    build_word_tokenizer([" ".join(words)], max_vocab_size=1000).save_pretrained(tmp_path)
    hashes = {Hasher.hash(make_tokenize_function(AutoTokenizer.from_pretrained(tmp_path), 64)) for _ in range(3)}
    assert len(hashes) == 1


def test_other_tokenizers_are_not_taken_for_the_word_tokenizer(tmp_path):
    bert = build_tiny_model(tmp_path / "bert", "bert", ["some words here", "other words"], label_names=["a", "b"])
    assert not splits_like_simple_preprocess(TextClassifier(bert, device="cpu").tokenizer)
    with pytest.raises(ValueError, match="simple_preprocess alone"):
        TextCleaner(TextCleaning(simple_preprocess=True, stem=True)).for_word_tokenizer(["text"])


def test_predictions_file_is_trainings_reading_row_for_row(tmp_path, monkeypatch):
    texts = EDGE_TEXTS * 3
    folder = saved_word_model(tmp_path / "glove", texts)
    table = tmp_path / "in.csv"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(table, index=False)
    arguments = ["--model_dir", str(folder), "--input", str(table), "--chunk_size", "7"]
    predict.main([*arguments, "--output", str(tmp_path / "fast.csv")])
    # training's reading: every text through gensim, then the tokenizer's own regex
    monkeypatch.setattr(TextCleaner, "word_tokenizer_cleans", property(lambda self: False))
    monkeypatch.setattr(preprocessing, "splits_like_simple_preprocess", lambda tokenizer: False)  # no AsciiWordIds
    predict.main([*arguments, "--output", str(tmp_path / "reference.csv")])
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()


@pytest.mark.integration
def test_real_corpora_read_as_in_training(data_dir, tmp_path):
    ag_news = read_ag_news_csv_dir(data_dir / "ag_news")["test"]["text"][:3000]
    newsgroups = load_corpus("20newsgroups", data_dir=str(data_dir / "20newsgroups"), cache_dir=str(tmp_path / "cache"))
    long_texts = newsgroups["test"]["text"]
    # accents, other scripts, symbols: every such text of the corpus
    others = [text for split in newsgroups.values() for text in split["text"] if not text.isascii()]
    assert len(others) > 50
    texts = ag_news + others + [text for text in long_texts if text.isascii()][:1000]
    folder = saved_word_model(tmp_path / "glove", texts)
    assert_fast_reading_is_trainings(folder, texts)


def test_word_models_default_to_one_intra_op_thread(tmp_path):
    folder = saved_word_model(tmp_path, EDGE_TEXTS)
    host_threads = torch.get_num_threads()
    assert TextClassifier(folder, device="cpu", backend="torch", num_threads=2).backend.num_threads == 2  # as asked
    assert TextClassifier(folder, device="cpu", backend="torch").backend.num_threads == 1
    assert torch.get_num_threads() == host_threads  # set for the classifier's own calls only (tests/test_predict.py)


def test_a_cut_or_padding_left_on_the_tokenizer_does_not_change_the_batches(tmp_path):
    """transformers leaves truncation and padding set on the Rust tokenizer after a call that asked for them; the
    flat-id reading (non-ASCII texts go through that tokenizer) must read as training does all the same."""
    texts = EDGE_TEXTS + ["Ein längerer Text für den Tokenizer, mit vielen Wörtern, die gezählt werden"]
    folder = saved_word_model(tmp_path, EDGE_TEXTS)
    classifier = TextClassifier(folder, device="cpu", backend="torch")
    expected = classifier.padded_batch(texts)
    classifier.tokenizer(["a b c"], truncation=True, max_length=3, padding="max_length")  # leaves both set
    assert classifier.tokenizer.backend_tokenizer.truncation is not None
    batch = classifier.padded_batch(texts)
    for name in expected:
        assert torch.equal(batch[name], expected[name]), name
