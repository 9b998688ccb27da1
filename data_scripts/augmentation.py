"""Training-split augmentation in the style of EDA (Wei and Zou, 2019): synonym replacement, random deletion
and random swap of words, each with its own probability, applied with a batched, seeded `datasets.map`.

Only the training split is ever augmented; each document keeps its original and gains `augment_copies`
changed copies. A copy depends only on the seed and the document's row, so reruns and several processes
make the same copies. Synonyms come from WordNet 3.0 (the copy the text cleaning finds), or with
`synonym_source: glove` from the nearest neighbours of a word in GloVe. Texts are split on whitespace:
a copy is one line, and a word with punctuation attached ("car.") keeps its form.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
from datasets import Dataset, DatasetDict

from data_scripts.text_cleaning import POS_FILES, WordNetSource, resolve_wordnet
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
SYNONYM_SOURCES = ("wordnet", "glove")
GLOVE_FOR_SYNONYMS = "glove.6B.50d"
DATA_FILES = tuple(f"data.{name}" for name in POS_FILES.values())
NEIGHBOURS = 5  # a GloVe "synonym" is one of a word's 5 nearest neighbours by cosine
NEIGHBOUR_VOCABULARY = 50_000  # among the most frequent GloVe words: rarer ones are mostly noise


@dataclass
class Augmentation:
    """Which changed copies of training documents to add; all off by default."""

    augment_synonym_prob: float = field(
        default=0.0, metadata={"help": "Share of a copy's words replaced by a synonym (EDA used 0.1)."}
    )
    augment_delete_prob: float = field(
        default=0.0, metadata={"help": "Chance that each word of a copy is deleted (EDA used 0.1)."}
    )
    augment_swap_prob: float = field(
        default=0.0, metadata={"help": "Swaps of two random words in a copy, as a share of its length (EDA: 0.1)."}
    )
    augment_copies: int = field(default=1, metadata={"help": "Changed copies added per training document."})
    synonym_source: str = field(
        default="wordnet",
        metadata={"help": "'wordnet' (WordNet 3.0 synonyms) or 'glove' (nearest neighbours in glove.6B.50d)."},
    )

    def __post_init__(self) -> None:
        for name in ("augment_synonym_prob", "augment_delete_prob", "augment_swap_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise TextclsError(f"{name}={value}: expected a probability between 0 and 1")
        if self.augment_copies < 1:
            raise TextclsError(f"augment_copies={self.augment_copies}: expected 1 or more")
        if self.synonym_source not in SYNONYM_SOURCES:
            raise TextclsError(f"synonym_source={self.synonym_source!r}: expected one of {SYNONYM_SOURCES}")

    @property
    def enabled(self) -> bool:
        return bool(self.augment_synonym_prob or self.augment_delete_prob or self.augment_swap_prob)


class SynonymSource:
    """Looks each distinct word up once: corpora repeat their words. A plain dict rather than lru_cache, so
    that `datasets` can hash the map function that holds it."""

    memo: dict[str, tuple[str, ...]]

    def __call__(self, word: str) -> tuple[str, ...]:
        if word not in self.memo:
            self.memo[word] = self.lookup(word)
        return self.memo[word]

    def lookup(self, word: str) -> tuple[str, ...]:
        raise NotImplementedError


class WordNetSynonyms(SynonymSource):
    """A word's WordNet synonyms: the other lemmas of every synset it belongs to, read from index.* and data.*.

    index.<pos> lists each lemma's synset offsets; data.<pos> holds each synset at that byte offset.
    """

    def __init__(self, source: WordNetSource):
        missing = [name for name in DATA_FILES if not source.has(name)]
        if missing:
            raise TextclsError(
                f"augment_synonym_prob with synonym_source wordnet needs WordNet's synsets ({', '.join(missing)}), "
                f"which {source} lacks (it has the index files only). Install the full WordNet 3.0 dictionary "
                "(`apt-get install wordnet-base`), or use synonym_source glove."
            )
        self.offsets: dict[str, list[tuple[str, int]]] = {}
        self.data: dict[str, bytes] = {}
        for name in POS_FILES.values():
            self.data[name] = source.read(f"data.{name}").encode("utf-8")
            for line in source.read(f"index.{name}").splitlines():
                if not line or line[0] == " ":
                    continue  # the license header
                parts = line.split()
                pointers = int(parts[3])
                count = int(parts[2])
                offsets = parts[6 + pointers : 6 + pointers + count]
                self.offsets.setdefault(parts[0], []).extend((name, int(offset)) for offset in offsets)
        self.memo: dict[str, tuple[str, ...]] = {}

    def lookup(self, word: str) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for name, offset in self.offsets.get(word.lower(), []):
            data = self.data[name]
            fields = data[offset : data.index(b"\n", offset)].decode("utf-8").split()
            for position in range(int(fields[3], 16)):
                lemma = fields[4 + 2 * position].split("(")[0].replace("_", " ").lower()
                if lemma != word.lower():
                    found[lemma] = None
        return tuple(found)


class GloveNeighbours(SynonymSource):
    """A word's nearest neighbours (cosine) among the most frequent GloVe words."""

    def __init__(self, cache_dir: str | None = None):
        from modeling.embeddings import load_word_vectors

        vectors = load_word_vectors(GLOVE_FOR_SYNONYMS, cache_dir=cache_dir)
        self.words = vectors.words[:NEIGHBOUR_VOCABULARY]
        matrix = vectors.vectors[:NEIGHBOUR_VOCABULARY]
        self.unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-8)
        self.index = {word: row for row, word in enumerate(self.words)}
        self.memo: dict[str, tuple[str, ...]] = {}

    def lookup(self, word: str) -> tuple[str, ...]:
        row = self.index.get(word.lower())
        if row is None:
            return ()
        similarity = self.unit @ self.unit[row]
        similarity[row] = -np.inf
        best = np.argpartition(-similarity, NEIGHBOURS)[:NEIGHBOURS]
        return tuple(self.words[i] for i in best[np.argsort(-similarity[best])])


def synonym_finder(source: str, wordnet_dir: str | None = None, cache_dir: str | None = None):
    if source == "wordnet":
        wordnet = resolve_wordnet(wordnet_dir)
        logger.info("augmentation: synonyms from WordNet in %s", wordnet)
        return WordNetSynonyms(wordnet)
    logger.info("augmentation: synonyms are nearest neighbours in %s", GLOVE_FOR_SYNONYMS)
    return GloveNeighbours(cache_dir)


def augment_words(words: list[str], options: Augmentation, rng: np.random.Generator, synonyms) -> list[str]:
    """One changed copy of a tokenized document (EDA's order: synonyms, swaps, deletions)."""
    words = list(words)
    if options.augment_synonym_prob and synonyms is not None:
        candidates = [i for i, word in enumerate(words) if WORD.fullmatch(word)]
        wanted = int(round(options.augment_synonym_prob * len(candidates)))
        for i in rng.permutation(candidates):
            if wanted == 0:
                break
            choices = synonyms(words[i])
            if choices:
                words[i] = choices[rng.integers(len(choices))]
                wanted -= 1
    if options.augment_swap_prob and len(words) > 1:
        for _ in range(int(round(options.augment_swap_prob * len(words)))):
            a, b = rng.choice(len(words), size=2, replace=False)
            words[a], words[b] = words[b], words[a]
    if options.augment_delete_prob and len(words) > 1:
        kept = [word for word in words if rng.random() >= options.augment_delete_prob]
        words = kept or [words[rng.integers(len(words))]]  # never an empty document
    return words


def augment_train_split(
    corpus: DatasetDict,
    options: Augmentation | None,
    seed: int,
    wordnet_dir: str | None = None,
    cache_dir: str | None = None,
) -> DatasetDict:
    """The corpus with changed copies added to `train` (validation and test untouched)."""
    if options is None or not options.enabled:
        return corpus
    synonyms = synonym_finder(options.synonym_source, wordnet_dir, cache_dir) if options.augment_synonym_prob else None

    def augment(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in batch}
        for row, index in enumerate(indices):
            for name in batch:
                out[name].append(batch[name][row])
            rng = np.random.default_rng([seed & 0xFFFFFFFF, index])  # a row's copies depend on nothing else
            words = batch["text"][row].split()
            for _ in range(options.augment_copies):
                for name in batch:
                    out[name].append(batch[name][row])
                out["text"][-1] = " ".join(augment_words(words, options, rng, synonyms))
        return out

    train: Dataset = corpus["train"]
    augmented = train.map(augment, batched=True, with_indices=True, desc="Augmenting the training split")
    logger.info("augmentation: %d training documents -> %d", len(train), len(augmented))
    return DatasetDict({**corpus, "train": augmented})
