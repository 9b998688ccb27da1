"""Word-level cleaning for the GloVe and LSTM models: the seed notebooks' preprocessing, each step switchable.

Each document goes through, in this order: tokens (gensim's `simple_preprocess`, or words and punctuation
split apart when that is off) -> stop words dropped -> words WordNet does not know dropped -> Porter stems; the text
becomes the kept tokens joined by single spaces. Stemming comes last because stems ("gener") are neither
stop words nor WordNet lemmas. Then train, and only train, loses the documents left empty and those
longer than `max_doc_tokens`: validation and test keep every row so that their scores stay comparable
with runs that did not clean (the model truncates long documents to max_seq_length instead).

The cleaning is a batched `datasets.map`, cached on disk, so a second run with the same corpus and
options reads the cleaned text back instead of cleaning again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from datasets import Dataset, DatasetDict

from data_scripts.map_cache import map_corpus
from data_scripts.mapped_pages import watch
from textcls_errors import TextclsError

if TYPE_CHECKING:  # NLTK, gensim and scikit-learn are imported by the options that use them: 4 s of start-up
    import nltk

logger = logging.getLogger(__name__)

TRAIN = "train"
WORDNET_ENV = "TEXTCLS_WORDNET_DIR"
# Where Debian's (and Ubuntu's) wordnet-base package puts the WordNet 3.0 dictionary files.
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
NLTK_WORDNET = "corpora/wordnet"
NLTK_STOPWORDS = "corpora/stopwords"
# The files read here, by NLTK's part-of-speech tag: index.* list every lemma, *.exc the irregular forms.
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
WORDNET_FILES = tuple(f"index.{name}" for name in POS_FILES.values()) + tuple(f"{n}.exc" for n in POS_FILES.values())
# Without simple_preprocess: words (contractions kept whole) and runs of punctuation, so that "the," is still
# the stop word "the" and "dogs." still has WordNet synsets.
WORDS_AND_PUNCTUATION = re.compile(r"\w+(?:'\w+)*|[^\w\s]+")


@dataclass(frozen=True)
class TextCleaning:
    """Which word-level cleaning steps run before a GloVe or LSTM model; all are off by default."""

    simple_preprocess: bool = field(
        default=False,
        metadata={
            "help": "Lowercase, tokens of 2-15 letters (gensim's simple_preprocess); off: words and punctuation "
            "split apart, case kept."
        },
    )
    remove_stopwords: bool = field(
        default=False,
        metadata={"help": "Drop English stop words: NLTK's list when its data is installed, else scikit-learn's."},
    )
    wordnet_filter: bool = field(
        default=False,
        metadata={"help": "Keep only words with WordNet 3.0 synsets (inflected forms count, as in wn.synsets)."},
    )
    stem: bool = field(default=False, metadata={"help": "Replace each word by its Porter stem (NLTK)."})
    max_doc_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Drop training documents longer than this many tokens after cleaning (the seed used 700); "
            "validation and test keep theirs."
        },
    )
    wordnet_dir: str | None = field(
        default=None,
        metadata={
            "help": f"Folder with WordNet's index.* and *.exc files; default ${WORDNET_ENV}, then NLTK's data, "
            f"then {DEBIAN_WORDNET_DIR} (apt-get install wordnet-base)."
        },
    )

    def __post_init__(self) -> None:
        for name in ("simple_preprocess", "remove_stopwords", "wordnet_filter", "stem"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TextclsError(f"{name}={value!r}: expected true or false.")
        limit = self.max_doc_tokens
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise TextclsError(
                f"max_doc_tokens={limit!r}: expected a positive whole number of tokens (the seed notebooks "
                "used 700), or leave it unset to keep every training document."
            )
        if self.wordnet_dir is not None:
            if not isinstance(self.wordnet_dir, (str, os.PathLike)):
                raise TextclsError(f"wordnet_dir={self.wordnet_dir!r}: expected a folder path.")
            if not self.wordnet_filter:
                raise TextclsError(
                    f"wordnet_dir={str(self.wordnet_dir)!r} is used only with wordnet_filter=true: "
                    "turn wordnet_filter on, or remove wordnet_dir."
                )
            object.__setattr__(self, "wordnet_dir", os.fspath(self.wordnet_dir))

    @property
    def changes_text(self) -> bool:
        return self.simple_preprocess or self.remove_stopwords or self.wordnet_filter or self.stem

    @property
    def enabled(self) -> bool:
        return self.changes_text or self.max_doc_tokens is not None

    def as_config(self) -> dict[str, bool]:
        """The steps that change the text, for a model's config.json (no paths: configs get published)."""
        return {
            name: getattr(self, name) for name in ("simple_preprocess", "remove_stopwords", "wordnet_filter", "stem")
        }

    def describe(self) -> str:
        """One line for the logs: the steps in the order they run, and what train drops."""
        if not self.enabled:
            return "text cleaning: off"
        steps = [
            ("simple_preprocess", self.simple_preprocess),
            ("stop words removed", self.remove_stopwords),
            ("WordNet words only", self.wordnet_filter),
            ("Porter stems", self.stem),
        ]
        chain = " -> ".join(name for name, on in steps if on) or "text unchanged"
        limit = f" or over {self.max_doc_tokens} tokens" if self.max_doc_tokens else ""
        return f"text cleaning: {chain}; train drops documents left empty{limit} (validation/test keep all)"


@dataclass(frozen=True)
class WordNetSource:
    """WordNet's files in a folder, or in a folder inside a zip (NLTK's wordnet.zip).

    `sizes` are the files' sizes: they are part of the cleaning's cache key, so another WordNet cleans again.
    """

    path: str
    member: str | None = None
    sizes: tuple[int, ...] = ()

    def read(self, name: str) -> str:
        if self.member is None:
            return (Path(self.path) / name).read_text(encoding="utf-8")
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member + name).decode("utf-8")

    def has(self, name: str) -> bool:
        if self.member is None:
            return (Path(self.path) / name).is_file()
        with zipfile.ZipFile(self.path) as archive:
            return self.member + name in archive.namelist()

    def __str__(self) -> str:
        return self.path if self.member is None else f"{self.path}/{self.member}"


def wordnet_in_folder(folder: str | os.PathLike, origin: str) -> WordNetSource:
    """A folder the user named must hold WordNet: say which files are missing rather than look elsewhere."""
    root = Path(folder)
    missing = [name for name in WORDNET_FILES if not (root / name).is_file()]
    if missing:
        raise TextclsError(
            f"{origin}={str(folder)!r} is not a WordNet dictionary folder: missing {missing}. Expected the "
            f"WordNet 3.0 files {list(WORDNET_FILES)}, as in {DEBIAN_WORDNET_DIR} after "
            "`apt-get install wordnet-base`."
        )
    return WordNetSource(str(root.resolve()), sizes=tuple((root / name).stat().st_size for name in WORDNET_FILES))


def find_nltk_corpus(resource: str) -> nltk.data.PathPointer | None:
    """An installed NLTK corpus, zipped or unpacked, looked up as `nltk.corpus` does (zip first); None if absent."""
    import nltk

    for name in (f"{resource}.zip/{resource.rsplit('/', 1)[-1]}/", resource):
        try:
            return nltk.data.find(name)
        except LookupError:
            continue
    return None


def wordnet_in_nltk_data() -> WordNetSource | None:
    """NLTK's own copy (corpora/wordnet.zip, or unpacked in corpora/wordnet) when it is installed, else None."""
    import nltk

    pointer = find_nltk_corpus(NLTK_WORDNET)
    if pointer is None:
        return None
    if isinstance(pointer, nltk.data.ZipFilePathPointer):
        with zipfile.ZipFile(pointer.zipfile.filename) as archive:
            names = set(archive.namelist())
            if not all(pointer.entry + name in names for name in WORDNET_FILES):
                return None
            sizes = tuple(archive.getinfo(pointer.entry + name).file_size for name in WORDNET_FILES)
        return WordNetSource(pointer.zipfile.filename, pointer.entry, sizes)
    root = Path(pointer.path)
    if not all((root / name).is_file() for name in WORDNET_FILES):
        return None
    return WordNetSource(str(root), sizes=tuple((root / name).stat().st_size for name in WORDNET_FILES))


def resolve_wordnet(wordnet_dir: str | None = None) -> WordNetSource:
    """wordnet_dir, else $TEXTCLS_WORDNET_DIR, else NLTK's data, else Debian's wordnet-base; never a download."""
    if wordnet_dir is not None:
        return wordnet_in_folder(wordnet_dir, "wordnet_dir")
    if os.environ.get(WORDNET_ENV):
        return wordnet_in_folder(os.environ[WORDNET_ENV], f"${WORDNET_ENV}")
    source = wordnet_in_nltk_data()
    if source is not None:
        return source
    if all((DEBIAN_WORDNET_DIR / name).is_file() for name in WORDNET_FILES):
        return wordnet_in_folder(DEBIAN_WORDNET_DIR, "Debian's wordnet-base")
    # nltk.download would need the network, and it reports failure by returning False: never call it.
    import nltk

    raise TextclsError(
        "wordnet_filter=true needs WordNet 3.0 and found none. Looked in: wordnet_dir and "
        f"${WORDNET_ENV} (both unset); NLTK's data path for {NLTK_WORDNET} ({', '.join(map(str, nltk.data.path))}); "
        f"{DEBIAN_WORDNET_DIR} (Debian/Ubuntu). Fix: `apt-get install wordnet-base` (puts the files in "
        f"{DEBIAN_WORDNET_DIR}), or unpack NLTK's wordnet corpus into one of those NLTK folders "
        f"(python -m nltk.downloader wordnet, on a machine with network access), or point ${WORDNET_ENV} "
        "at a folder holding index.noun, index.verb, index.adj, index.adv and the *.exc files."
    )


class WordNetLexicon:
    """Whether WordNet has synsets for a word, answered as NLTK's `wn.synsets(word)` does, from index files alone.

    `synsets` lowercases the word and applies morphy: per part of speech, the word itself plus either
    its listed irregular base forms (geese -> goose, ran -> run) or one suffix rule (dogs -> dog,
    asked -> ask). Without morphy the filter would drop most plurals and verb forms, which are real
    words; it is applied here too, so "the filter keeps w" means exactly "wn.synsets(w) is not empty".
    Reading the lemma column of index.* takes 0.1 s, where NLTK's reader takes 2 s and will not open
    Debian's copy as it is (it wants lexnames and NLTK's own index.sense, and only reads NLTK data folders).
    """

    def __init__(self, lemmas: dict[str, frozenset[str]], exceptions: dict[str, dict[str, list[str]]]):
        from nltk.corpus.reader.wordnet import POS_LIST, WordNetCorpusReader

        self.lemmas = lemmas
        self.exceptions = exceptions
        self._known: dict[str, bool] = {}
        self.parts_of_speech = POS_LIST
        # morphy's suffix rules (dogs -> dog, asked -> ask), taken from NLTK so that the two always agree.
        self.substitutions = WordNetCorpusReader.MORPHOLOGICAL_SUBSTITUTIONS

    @classmethod
    def read(cls, source: WordNetSource) -> WordNetLexicon:
        lemmas, exceptions = {}, {}
        for pos, name in POS_FILES.items():
            # The license header lines start with a space; every other line starts with its lemma.
            lines = source.read(f"index.{name}").splitlines()
            lemmas[pos] = frozenset(line.split(" ", 1)[0] for line in lines if line.strip() and line[0] != " ")
            rows = (line.split() for line in source.read(f"{name}.exc").splitlines())
            exceptions[pos] = {row[0]: row[1:] for row in rows if row}
        return cls(lemmas, exceptions)

    def base_forms(self, word: str, pos: str) -> list[str]:
        """The word and the forms morphy would look up for it as this part of speech."""
        if word in self.exceptions[pos]:
            return [word, *self.exceptions[pos][word]]
        return [word, *(word[: -len(old)] + new for old, new in self.substitutions[pos] if word.endswith(old))]

    def knows(self, word: str) -> bool:
        word = word.lower()
        known = self._known.get(word)
        if known is None:
            forms = ((pos, form) for pos in self.parts_of_speech for form in self.base_forms(word, pos))
            known = self._known[word] = any(form in self.lemmas[pos] for pos, form in forms)
        return known


@functools.lru_cache(maxsize=4)
def load_wordnet(source: WordNetSource) -> WordNetLexicon:
    """Read once per process (and per WordNet copy)."""
    start = time.perf_counter()
    lexicon = WordNetLexicon.read(source)
    count = sum(len(lemmas) for lemmas in lexicon.lemmas.values())
    logger.debug("WordNet: %d lemma entries read from %s in %.2f s", count, source, time.perf_counter() - start)
    return lexicon


def english_stopwords() -> tuple[tuple[str, ...], str]:
    """NLTK's English list when its stopwords corpus is installed, else scikit-learn's; and which one it was."""
    import nltk
    from nltk.corpus.reader import StopwordsCorpusReader
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    pointer = find_nltk_corpus(NLTK_STOPWORDS)
    reason = f"NLTK's stopwords corpus is not installed in {', '.join(map(str, nltk.data.path))}"
    if pointer is not None:
        try:
            words = StopwordsCorpusReader(pointer, r"(?!README|\.).*", encoding="utf8").words("english")
            return tuple(sorted(set(words))), f"NLTK's English list from {pointer}"
        except (LookupError, OSError, ValueError) as error:
            reason = f"NLTK's stopwords corpus in {pointer} has no readable English list: {error}"
    return tuple(sorted(ENGLISH_STOP_WORDS)), f"scikit-learn's ENGLISH_STOP_WORDS ({reason})"


def stopwords_record() -> dict[str, object]:
    """Which stop-word list this machine uses, for a model's config.json: its source, size and a hash of the words
    (the list depends on whether NLTK's data is installed, so a model must remember which one it was trained with)."""
    words, description = english_stopwords()
    return {
        "source": "scikit-learn" if description.startswith("scikit-learn") else "nltk",
        "count": len(words),
        "sha256": hashlib.sha256("\n".join(words).encode()).hexdigest(),
    }


def check_stopwords(recorded: dict[str, object] | None) -> None:
    """Refuse to clean text for a model with another stop-word list than the one it was trained with."""
    here = stopwords_record()
    if recorded is None:
        logger.warning(
            "the model does not record its stop-word list (trained before it was saved): removing this machine's "
            "%s list of %d words, which may differ from training's",
            here["source"],
            here["count"],
        )
        return
    if recorded.get("sha256") != here["sha256"]:
        raise TextclsError(
            f"the model was trained with the {recorded.get('source')} stop-word list ({recorded.get('count')} words), "
            f"but this machine has the {here['source']} one ({here['count']} words, another list): its text would be "
            "cleaned differently than in training. Install the same list (NLTK's: python -m nltk.downloader "
            "stopwords; scikit-learn's: remove NLTK's stopwords corpus), or retrain here."
        )


@dataclass(frozen=True)
class TextCleaner:
    """The batched `map` function: text -> cleaned text and its token count (`num_tokens`).

    Holds only plain values (the stop words as a sorted tuple, WordNet as a location and file sizes),
    so that `datasets` hashes it the same way in every process and a second run finds the cache.
    """

    options: TextCleaning
    stopwords: tuple[str, ...] = ()
    wordnet: WordNetSource | None = None

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if not self.options.changes_text:
            return {"num_tokens": [len(text.split()) for text in batch["text"]]}
        clean = word_cleaner(self) if self.stopwords or self.wordnet or self.options.stem else None
        documents = [self.tokens(text, clean) for text in batch["text"]]
        return {"text": [" ".join(tokens) for tokens in documents], "num_tokens": [len(t) for t in documents]}

    @property
    def word_tokenizer_cleans(self) -> bool:
        """True when simple_preprocess is the only step that changes the text: a tokenizer whose own lowercasing and
        split are simple_preprocess's (modeling.word_tokenizer) then reads texts as training did
        (`for_word_tokenizer`)."""
        options = self.options
        return options.simple_preprocess and not (options.remove_stopwords or options.wordnet_filter or options.stem)

    def for_word_tokenizer(self, texts: list[str]) -> list[str]:
        """The texts to give such a tokenizer, which then finds the words training's cleaning would have fed it: ASCII
        texts as they are (the tokenizer splits them in Rust, to gensim's words: tests/test_word_tokenizer.py), the
        others cleaned here (Python's and the tokenizer's Unicode tables and lowercasing differ on a few characters)."""
        if not self.word_tokenizer_cleans:
            raise ValueError(f"{self.options.describe()}: only simple_preprocess alone is the word tokenizer's split")
        return [text if text.isascii() else " ".join(self.tokens(text, None)) for text in texts]

    def tokens(self, text: str, clean: WordCleaner | None) -> list[str]:
        from gensim.utils import simple_preprocess  # a dictionary look-up after the first call

        words = (
            simple_preprocess(text)
            if self.options.simple_preprocess
            else WORDS_AND_PUNCTUATION.findall(text.replace("’", "'"))
        )
        if clean is None:
            return words
        kept = []
        for word in words:
            word = clean(word)
            if word is not None:
                kept.append(word)
        return kept


class WordCleaner:
    """What becomes of each word: dropped (None) or kept, stemmed or not; worked out once per distinct word."""

    def __init__(self, cleaner: TextCleaner):
        self.stopwords = frozenset(cleaner.stopwords)
        self.wordnet = load_wordnet(cleaner.wordnet) if cleaner.wordnet is not None else None
        from nltk.stem import PorterStemmer

        self.stemmer = PorterStemmer() if cleaner.options.stem else None
        self.memo: dict[str, str | None] = {}

    def __call__(self, word: str) -> str | None:
        if word not in self.memo:
            self.memo[word] = self.clean(word)
        return self.memo[word]

    def clean(self, word: str) -> str | None:
        lower = word.lower()
        if lower in self.stopwords or (self.wordnet is not None and not self.wordnet.knows(lower)):
            return None
        return self.stemmer.stem(word) if self.stemmer is not None else word


@functools.lru_cache(maxsize=8)
def word_cleaner(cleaner: TextCleaner) -> WordCleaner:
    """One per process and set of options, kept across batches: corpora repeat their words."""
    return WordCleaner(cleaner)


def build_cleaner(options: TextCleaning, import_gensim: bool = True) -> TextCleaner:
    """Find the stop words and WordNet the options need (and log which), then load WordNet once. `import_gensim`
    False leaves gensim (half a second) to the first text that needs it: prediction, where the word tokenizer
    cleans ASCII texts itself (`for_word_tokenizer`)."""
    stopwords: tuple[str, ...] = ()
    if options.remove_stopwords:
        stopwords, origin = english_stopwords()
        logger.info("stop words: %d from %s", len(stopwords), origin)
    wordnet = None
    if options.wordnet_filter:
        wordnet = resolve_wordnet(options.wordnet_dir)
        load_wordnet(wordnet)  # fail early, and forked map workers inherit it
        logger.info("WordNet filter: WordNet read from %s", wordnet)
    if options.simple_preprocess and import_gensim:
        import gensim.utils  # noqa: F401  (imported once here: map workers forked later inherit it)
    return TextCleaner(options, stopwords, wordnet)


def drop_train_documents(split: str, rows: Dataset, max_doc_tokens: int | None) -> Dataset:
    """Train loses documents left empty or longer than max_doc_tokens; other splits only report them."""
    counts = rows.with_format("arrow")["num_tokens"].to_numpy()
    rows = rows.remove_columns("num_tokens")
    empty = counts == 0
    too_long = counts > max_doc_tokens if max_doc_tokens is not None else np.zeros_like(empty)
    found = f"{empty.sum()} empty after cleaning"
    if max_doc_tokens is not None:
        found += f", {too_long.sum()} longer than {max_doc_tokens} tokens"
    if split != TRAIN:
        if empty.any() or too_long.any():
            logger.info("%s: kept all %d documents (%s; the model truncates long ones)", split, len(counts), found)
        return rows
    drop = empty | too_long
    logger.info("train: dropped %d of %d documents (%s)", drop.sum(), len(counts), found)
    if drop.all():
        raise TextclsError(
            f"text cleaning left no training documents ({found}, of {len(counts)}): raise max_doc_tokens, "
            "or turn off wordnet_filter / remove_stopwords, and check that the text column holds the text."
        )
    return rows.select(np.flatnonzero(~drop)) if drop.any() else rows


def clean_corpus(
    corpus: DatasetDict,
    options: TextCleaning | None,
    num_proc: int | None = None,
    cache_dir: str | None = None,
    *,
    overwrite_cache: bool = False,
) -> DatasetDict:
    """Clean every split's `text` (labels kept) with a batched, cached map; a no-op when no option is on."""
    if options is None or not options.enabled:
        return corpus
    logger.info(options.describe())
    cleaner = build_cleaner(options)
    cleaned = map_corpus(
        corpus,
        cleaner,
        num_proc=num_proc,
        cache_dir=cache_dir,
        load_from_cache_file=not overwrite_cache,
        desc="Cleaning text",
    )
    cleaned = DatasetDict(
        {split: drop_train_documents(split, rows, options.max_doc_tokens) for split, rows in cleaned.items()}
    )
    watch(cleaned)  # new datasets over the map's files: their pages leave the run's RSS once read (mapped_pages)
    return cleaned
