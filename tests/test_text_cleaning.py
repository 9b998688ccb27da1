"""Word-level cleaning: each step's exact output, where stop words and WordNet come from, and the cache."""

import logging
import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import nltk
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from gensim.utils import simple_preprocess
from nltk.corpus.reader.wordnet import WordNetCorpusReader

import data_scripts.text_cleaning as text_cleaning
from data_scripts import load_corpus
from data_scripts.text_cleaning import (
    POS_FILES,
    TextCleaner,
    TextCleaning,
    WordNetLexicon,
    build_cleaner,
    clean_corpus,
    load_wordnet,
    resolve_wordnet,
)
from textcls_errors import TextclsError

FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
LOGGER = "data_scripts.text_cleaning"

# A WordNet small enough to write here, in the real dictionary format (wndb(5WN)): one synset per lemma.
TINY_WORDNET = {
    "noun": [("computer", "a machine for performing calculations"), ("dog", "a domesticated canid")]
    + [("goose", "web-footed long-necked bird"), ("hot_dog", "a frankfurter served in a bun")],
    "verb": [("run", "move fast by using one's feet")],
    "adj": [("good", "having desirable or positive qualities")],
    "adv": [("quickly", "with rapid movements")],
}
TINY_EXCEPTIONS = {"noun": ["geese goose"], "verb": ["ran run"], "adj": ["better good"], "adv": []}
# Part-of-speech letter and lexicographer file number of each file's synsets.
TINY_POS = {"noun": ("n", 6), "verb": ("v", 38), "adj": ("a", 0), "adv": ("r", 2)}
HEADER = [
    "  1 This software and database is being provided to you, the LICENSEE, by  ",
    "  2 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  ",
]


def write_tiny_wordnet(folder: Path) -> Path:
    """index.*, data.* (offsets are byte positions, as in the real files) and *.exc for TINY_WORDNET."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in TINY_WORDNET.items():
        pos, lexfile = TINY_POS[name]
        data = "".join(line + "\n" for line in HEADER)
        index_lines = []
        for lemma, gloss in entries:
            offset = len(data.encode())
            frames = " 01 + 02 00" if pos == "v" else ""  # verbs list their sentence frames
            data += f"{offset:08d} {lexfile:02d} {pos} 01 {lemma} 0 000{frames} | {gloss}  \n"
            index_lines.append(f"{lemma} {pos} 1 0 1 0 {offset:08d}  \n")
        (folder / f"data.{name}").write_text(data)
        (folder / f"index.{name}").write_text("".join(line + "\n" for line in HEADER) + "".join(sorted(index_lines)))
        (folder / f"{name}.exc").write_text("".join(line + "\n" for line in TINY_EXCEPTIONS[name]))
    return folder


def nltk_reader(folder: Path, monkeypatch) -> WordNetCorpusReader:
    """NLTK's own WordNet reader on `folder`, to compare with. NLTK 3.10 reads only inside its data path,
    wants a lexnames file (Debian has none; placeholder names do for synsets()) and maps every synset
    to its own installed WordNet in map_wn, which only multilingual lookups need."""
    if not (folder / "lexnames").exists():
        (folder / "lexnames").write_text("".join(f"{i:02d}\tlexfile{i}\t1\n" for i in range(45)))
    monkeypatch.setattr(nltk.data, "path", [str(folder)])
    monkeypatch.setattr(WordNetCorpusReader, "map_wn", lambda self, version="wordnet": None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return WordNetCorpusReader(str(folder), None)


def corpus_of(train: list[str], test: list[str] | None = None, validation: list[str] | None = None) -> DatasetDict:
    splits = {"train": train, "validation": validation, "test": test}
    return DatasetDict(
        {
            name: Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(len(texts))]}, features=FEATURES)
            for name, texts in splits.items()
            if texts is not None
        }
    )


def cleaned(options: TextCleaning, *texts: str, **kwargs) -> list[str]:
    """The texts as the test split comes out (test keeps every row, so outputs line up with inputs)."""
    return clean_corpus(corpus_of(["dog"], list(texts)), options, **kwargs)["test"]["text"]


@pytest.fixture
def no_nltk_data(tmp_path, monkeypatch):
    """An NLTK data path with nothing in it, whatever this machine has installed."""
    empty = tmp_path / "empty_nltk_data"
    empty.mkdir()
    monkeypatch.setattr(nltk.data, "path", [str(empty)])
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.delenv(text_cleaning.WORDNET_ENV, raising=False)
    return empty


@pytest.fixture
def tiny_wordnet(tmp_path) -> Path:
    return write_tiny_wordnet(tmp_path / "wordnet")


@pytest.fixture(scope="module")
def real_wordnet():
    """WordNet 3.0 as this machine has it (NLTK data or Debian's wordnet-base), else skip."""
    try:
        return resolve_wordnet()
    except TextclsError:
        where = text_cleaning.DEBIAN_WORDNET_DIR
        pytest.skip(f"WordNet 3.0 is not installed: `apt-get install wordnet-base` (puts its files in {where})")


def test_simple_preprocess_lowercases_and_keeps_tokens_of_2_to_15_letters():
    text = "Hello, World! It's a dog's life: 3 running dogs & hot_dog café I/O x supercalifragilistic"
    assert cleaned(TextCleaning(simple_preprocess=True), text) == ["hello world it dog life running dogs hot_dog café"]


def test_without_simple_preprocess_punctuation_is_split_off_so_filters_see_the_word():
    options = TextCleaning(remove_stopwords=True)
    assert cleaned(options, "The  Dog,\tand\nthe, cat's") == ["Dog , , cat's"]


def test_no_option_leaves_the_corpus_alone():
    corpus = corpus_of(["Some Text"], ["More text"])
    assert clean_corpus(corpus, TextCleaning()) is corpus
    assert clean_corpus(corpus, None) is corpus
    assert TextCleaning().describe() == "text cleaning: off"


def test_describe_names_the_steps_in_the_order_they_run():
    options = TextCleaning(simple_preprocess=True, wordnet_filter=True, stem=True, max_doc_tokens=700)
    assert options.describe() == (
        "text cleaning: simple_preprocess -> WordNet words only -> Porter stems; "
        "train drops documents left empty or over 700 tokens (validation/test keep all)"
    )


def test_scikit_learn_stopwords_when_nltk_has_none_and_the_log_says_so(no_nltk_data, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    options = TextCleaning(simple_preprocess=True, remove_stopwords=True)
    assert cleaned(options, "This is not the end of the World") == ["end world"]
    assert "stop words: 318 from scikit-learn's ENGLISH_STOP_WORDS" in caplog.text
    assert "stopwords corpus is not installed" in caplog.text


def test_nltk_stopwords_are_used_when_installed(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "nltk_data" / "corpora" / "stopwords"
    folder.mkdir(parents=True)
    (folder / "english").write_text("the\nof\nnot\nthis\n")
    (folder / "README").write_text("not a word list\n")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    caplog.set_level(logging.INFO, logger=LOGGER)
    options = TextCleaning(simple_preprocess=True, remove_stopwords=True)
    # "is" is a stop word for scikit-learn but not in this list
    assert cleaned(options, "This is not the end of the World") == ["is end world"]
    assert f"stop words: 4 from NLTK's English list from {folder}" in caplog.text


def test_porter_stems():
    assert cleaned(TextCleaning(stem=True), "Running dogs generously caresses") == ["run dog gener caress"]


def test_wordnet_filter_on_a_tiny_wordnet_keeps_inflected_forms(tiny_wordnet, no_nltk_data):
    options = TextCleaning(simple_preprocess=True, wordnet_filter=True, wordnet_dir=str(tiny_wordnet))
    text = "Dogs ran to the computers: runs geese, xyzzy, HOT_DOG better quickly"
    assert cleaned(options, text) == ["dogs ran computers runs geese hot_dog better quickly"]
    # Stemming comes after the filter: "runs" is looked up as a word, then stemmed.
    options = TextCleaning(simple_preprocess=True, wordnet_filter=True, stem=True, wordnet_dir=str(tiny_wordnet))
    assert cleaned(options, text) == ["dog ran comput run gees hot_dog better quickli"]


def test_tiny_wordnet_lookups_agree_with_nltks_reader(tiny_wordnet, monkeypatch):
    lexicon = WordNetLexicon.read(resolve_wordnet(str(tiny_wordnet)))
    wn = nltk_reader(tiny_wordnet, monkeypatch)
    words = ["dog", "dogs", "Dog", "geese", "gooses", "ran", "runs", "running", "runned", "computers", "computer"]
    words += ["good", "better", "gooder", "goodest", "quickly", "hot_dog", "hot_dogs", "xyzzy", "the", "s", ""]
    assert {word: lexicon.knows(word) for word in words} == {word: bool(wn.synsets(word)) for word in words}
    assert wn.synsets("geese")[0].definition() == "web-footed long-necked bird"  # the offsets are right


def test_wordnet_dir_environment_variable_and_argument(tiny_wordnet, tmp_path, monkeypatch, no_nltk_data):
    monkeypatch.setenv(text_cleaning.WORDNET_ENV, str(tiny_wordnet))
    assert resolve_wordnet().path == str(tiny_wordnet.resolve())
    other = write_tiny_wordnet(tmp_path / "other")
    assert resolve_wordnet(str(other)).path == str(other.resolve())  # the argument wins
    monkeypatch.setenv(text_cleaning.WORDNET_ENV, str(tmp_path))
    with pytest.raises(TextclsError, match=r"\$TEXTCLS_WORDNET_DIR=.* is not a WordNet dictionary folder: missing"):
        resolve_wordnet()


@pytest.mark.parametrize("packed", [True, False], ids=["wordnet.zip", "unpacked"])
def test_wordnet_from_nltk_data(tiny_wordnet, tmp_path, monkeypatch, packed):
    corpora = tmp_path / "nltk_data" / "corpora"
    corpora.mkdir(parents=True)
    if packed:
        with zipfile.ZipFile(corpora / "wordnet.zip", "w") as archive:
            for file in sorted(tiny_wordnet.iterdir()):
                archive.write(file, f"wordnet/{file.name}")
    else:
        shutil.copytree(tiny_wordnet, corpora / "wordnet")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    monkeypatch.delenv(text_cleaning.WORDNET_ENV, raising=False)
    source = resolve_wordnet()
    expected = (str(corpora / "wordnet.zip"), "wordnet/") if packed else (str(corpora / "wordnet"), None)
    assert (source.path, source.member) == expected
    assert [load_wordnet(source).knows(word) for word in ("geese", "xyzzy")] == [True, False]


def test_missing_wordnet_names_both_sources(no_nltk_data, monkeypatch):
    monkeypatch.setattr(text_cleaning, "DEBIAN_WORDNET_DIR", no_nltk_data / "no_wordnet_here")
    with pytest.raises(TextclsError) as error:
        clean_corpus(corpus_of(["a dog"]), TextCleaning(wordnet_filter=True))
    message = str(error.value)
    assert "needs WordNet 3.0 and found none" in message
    assert f"corpora/wordnet ({no_nltk_data})" in message
    assert "apt-get install wordnet-base" in message


def test_real_wordnet_keeps_words_and_their_inflections(real_wordnet):
    lexicon = load_wordnet(real_wordnet)
    for word in ["dog", "dogs", "running", "ran", "geese", "better", "computers", "churches", "aardwolves"]:
        assert lexicon.knows(word), word
    for word in ["xyzzy", "the", "of", "and", "qwertyuiop"]:
        assert not lexicon.knows(word), word
    # WordNet 3.0's index entries, one per (lemma, part of speech)
    assert sum(len(lemmas) for lemmas in lexicon.lemmas.values()) == 155287


def test_real_wordnet_lookups_agree_with_nltks_synsets(real_wordnet, tmp_path, monkeypatch):
    if real_wordnet.member is not None:  # NLTK's own zipped copy: its usual reader opens it
        monkeypatch.setattr(WordNetCorpusReader, "map_wn", lambda self, version="wordnet": None)
        wn = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
    else:  # a folder NLTK will not open as it is: copy what synsets() reads (it refuses symbolic links)
        copy = tmp_path / "wordnet"
        copy.mkdir()
        for name in POS_FILES.values():
            for file in (f"index.{name}", f"data.{name}", f"{name}.exc"):
                shutil.copyfile(Path(real_wordnet.path) / file, copy / file)
        wn = nltk_reader(copy, monkeypatch)
    lexicon = WordNetLexicon.read(real_wordnet)
    # Every 200th lemma of each part of speech, inflected every way morphy undoes, plus every 5th irregular form.
    words = {"was", "is", "went", "mice", "media", "happiest", "its", "us", "asked", "xyzzy", "Dogs"}
    for pos, lemmas in lexicon.lemmas.items():
        for lemma in sorted(lemmas)[::200]:
            words.update(lemma + suffix for suffix in ("", "s", "es", "ed", "ing", "er", "est"))
        words.update(sorted(lexicon.exceptions[pos])[::5])
    disagree = {word for word in words if lexicon.knows(word) != bool(wn.synsets(word))}
    assert not disagree
    assert 0.2 < sum(map(lexicon.knows, words)) / len(words) < 0.9  # both answers occur


def test_max_doc_tokens_drops_only_training_documents(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    long, short = "one two three four five six", "one two three"
    corpus = corpus_of([short, long, short, ""], test=[long, short, ""], validation=[long])
    out = clean_corpus(corpus, TextCleaning(max_doc_tokens=5))
    assert out["train"]["text"] == [short, short]
    assert out["train"]["label"] == [0, 0]
    assert out["test"]["text"] == [long, short, ""]  # text untouched: only the limit was asked for
    assert out["validation"]["text"] == [long]
    assert out["train"].column_names == ["text", "label"]
    assert "train: dropped 2 of 4 documents (1 empty after cleaning, 1 longer than 5 tokens)" in caplog.text
    assert "test: kept all 3 documents (1 empty after cleaning, 1 longer than 5 tokens;" in caplog.text


def test_documents_emptied_by_cleaning_leave_train_but_stay_in_test(no_nltk_data):
    options = TextCleaning(simple_preprocess=True, remove_stopwords=True)
    corpus = corpus_of(["The Cat", "of the", "dogs"], test=["of the", "Cats"])
    out = clean_corpus(corpus, options)
    assert out["train"]["text"] == ["cat", "dogs"]
    assert out["train"]["label"] == [0, 0]
    assert out["test"]["text"] == ["", "cats"]
    with pytest.raises(TextclsError, match="left no training documents"):
        clean_corpus(corpus_of(["of the", "and"]), options)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"stem": "yes"}, r"stem='yes': expected true or false"),
        ({"max_doc_tokens": 0}, r"max_doc_tokens=0: expected a positive whole number"),
        ({"max_doc_tokens": True}, r"max_doc_tokens=True: expected a positive whole number"),
        ({"max_doc_tokens": 7.5}, r"max_doc_tokens=7.5: expected a positive whole number"),
        ({"wordnet_dir": "/x"}, r"wordnet_dir='/x' is used only with wordnet_filter=true"),
    ],
)
def test_bad_options_are_named(settings, message):
    with pytest.raises(TextclsError, match=message):
        TextCleaning(**settings)


CACHE_RUN = """
import sys
from tests.test_text_cleaning import cache_test_corpus, CACHE_OPTIONS
from data_scripts.text_cleaning import clean_corpus
clean_corpus(cache_test_corpus(), CACHE_OPTIONS, cache_dir=sys.argv[1])
"""
CACHE_OPTIONS = TextCleaning(simple_preprocess=True, remove_stopwords=True, stem=True, max_doc_tokens=3)


def cache_test_corpus() -> DatasetDict:
    return corpus_of(["The dogs are running", "a b c d e f g h", "Cats sleep"], test=["Geese fly", "of the"])


def test_second_run_reuses_the_cleaned_cache(tmp_path, monkeypatch):
    # The first run is another process, as a second `run_classification.py` would be: the cache key
    # must not depend on anything that changes between processes (hash seeds, set order).
    env = {**os.environ, "NLTK_DATA": "", "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop(text_cleaning.WORDNET_ENV, None)
    args = [sys.executable, "-c", CACHE_RUN, str(tmp_path / "cache")]
    subprocess.run(args, check=True, env=env, cwd=Path(__file__).parents[1], capture_output=True)
    written = {file: file.stat().st_mtime_ns for file in (tmp_path / "cache").rglob("*.arrow")}
    assert len(written) == 2  # train and test

    def fail(self, batch):
        raise AssertionError("the corpus was cleaned again instead of read from the cache")

    monkeypatch.setattr(TextCleaner, "__call__", fail)
    out = clean_corpus(cache_test_corpus(), CACHE_OPTIONS, cache_dir=str(tmp_path / "cache"))
    assert out["train"]["text"] == ["dog run", "cat sleep"]
    assert out["test"]["text"] == ["gees fli", ""]
    assert {file: file.stat().st_mtime_ns for file in (tmp_path / "cache").rglob("*.arrow")} == written
    assert {Path(rows.cache_files[0]["filename"]) for rows in out.values()} == set(written)
    # Other options are another cache entry.
    monkeypatch.undo()
    other = clean_corpus(cache_test_corpus(), TextCleaning(simple_preprocess=True), cache_dir=str(tmp_path / "cache"))
    assert other["test"]["text"] == ["geese fly", "of the"]
    assert len(list((tmp_path / "cache").rglob("*.arrow"))) == 4


def test_the_map_function_hashes_the_same_when_built_twice(tiny_wordnet, no_nltk_data):
    from datasets.fingerprint import Hasher

    options = TextCleaning(remove_stopwords=True, wordnet_filter=True, wordnet_dir=str(tiny_wordnet))
    assert Hasher.hash(build_cleaner(options)) == Hasher.hash(build_cleaner(options))
    assert Hasher.hash(build_cleaner(options)) != Hasher.hash(build_cleaner(TextCleaning(remove_stopwords=True)))


@pytest.mark.integration
@pytest.mark.parametrize("wordnet_filter", [False, True], ids=["no_wordnet", "wordnet"])
def test_cleaning_real_newsgroups(data_dir, wordnet_filter, tmp_path, caplog):
    if wordnet_filter:
        try:
            resolve_wordnet()
        except TextclsError:
            pytest.skip("WordNet 3.0 is not installed: `apt-get install wordnet-base`")
    caplog.set_level(logging.INFO, logger=LOGGER)
    raw = load_corpus(
        "20newsgroups",
        data_dir=str(data_dir / "20newsgroups"),
        max_train_samples=300,
        max_eval_samples=50,
        max_predict_samples=100,
    )
    options = TextCleaning(
        simple_preprocess=True, remove_stopwords=True, wordnet_filter=wordnet_filter, stem=True, max_doc_tokens=200
    )
    out = clean_corpus(raw, options, cache_dir=str(tmp_path))
    assert len(out["test"]) == 100 and len(out["validation"]) == 50
    assert out["test"]["label"] == raw["test"]["label"]
    assert 200 < len(out["train"]) < 300  # some long posts went (200 tokens), most stayed
    for text in out["train"]["text"]:
        tokens = text.split()
        assert 0 < len(tokens) <= 200
    tokens = [token for text in out["test"]["text"] for token in text.split()]
    assert all(token == token.lower() and 2 <= len(token) <= 15 for token in tokens)
    assert not {"the", "and", "of", "is"} & set(tokens)
    raw_tokens = sum(len(simple_preprocess(text)) for text in raw["test"]["text"])
    share = len(tokens) / raw_tokens
    # Measured on this sample: 57% of the tokens stay without the WordNet filter, 47% with it.
    assert (0.35 < share < 0.55) if wordnet_filter else (0.45 < share < 0.7), share
    if wordnet_filter:  # what WordNet keeps is part of what is left without it
        without = clean_corpus(raw, TextCleaning(simple_preprocess=True, remove_stopwords=True, stem=True))
        for with_wordnet, plain in zip(out["test"]["text"], without["test"]["text"], strict=True):
            assert set(with_wordnet.split()) <= set(plain.split())
    assert "train: dropped" in caplog.text
