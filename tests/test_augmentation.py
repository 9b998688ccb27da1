"""Training-split augmentation: what each operation does, that only train changes, and that copies repeat."""

import json
from collections import Counter

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

import run_classification
from data_scripts.augmentation import (
    Augmentation,
    GloveNeighbours,
    WordNetSynonyms,
    augment_train_split,
    augment_words,
)
from data_scripts.text_cleaning import DEBIAN_WORDNET_DIR, WORDNET_FILES, resolve_wordnet
from textcls_errors import TextclsError

SENTENCE = "the quick brown fox jumps over the lazy dog near the old car".split()
wordnet_installed = pytest.mark.skipif(
    not all((DEBIAN_WORDNET_DIR / name).is_file() for name in WORDNET_FILES),
    reason="WordNet 3.0 is not installed (make install adds Debian's wordnet-base)",
)


def corpus(count: int = 12) -> DatasetDict:
    features = Features({"text": Value("string"), "label": ClassLabel(names=["a", "b"])})
    split = {"text": [" ".join(SENTENCE[: 4 + i % 8]) for i in range(count)], "label": [i % 2 for i in range(count)]}
    return DatasetDict({name: Dataset.from_dict(split, features=features) for name in ("train", "validation", "test")})


def test_deletion_and_swap_change_words_as_asked():
    rng = np.random.default_rng(0)
    swapped = augment_words(SENTENCE, Augmentation(augment_swap_prob=0.2), rng, None)
    assert Counter(swapped) == Counter(SENTENCE) and swapped != SENTENCE  # same words, other order
    deleted = augment_words(SENTENCE * 20, Augmentation(augment_delete_prob=0.3), rng, None)
    assert 0.55 < len(deleted) / (len(SENTENCE) * 20) < 0.85
    assert augment_words(["only"], Augmentation(augment_delete_prob=1.0), rng, None) == ["only"]  # never empty
    assert len(augment_words(["a", "b"], Augmentation(augment_delete_prob=1.0), rng, None)) == 1


def test_synonym_replacement_uses_the_source():
    table = {"quick": ("fast",), "car": ("automobile",)}
    options = Augmentation(augment_synonym_prob=1.0)
    replaced = augment_words(SENTENCE, options, np.random.default_rng(0), lambda word: table.get(word, ()))
    assert replaced == [{"quick": "fast", "car": "automobile"}.get(word, word) for word in SENTENCE]


@wordnet_installed
def test_wordnet_without_synsets_is_one_message(tmp_path):
    for name in WORDNET_FILES:  # enough for the cleaning's filter, not for synonyms
        (tmp_path / name).symlink_to(DEBIAN_WORDNET_DIR / name)
    with pytest.raises(TextclsError, match="data.noun.*synonym_source glove"):
        WordNetSynonyms(resolve_wordnet(str(tmp_path)))


@wordnet_installed
def test_wordnet_synonyms_are_wordnets():
    synonyms = WordNetSynonyms(resolve_wordnet())
    assert {"automobile", "auto", "motorcar"} <= set(synonyms("car"))
    assert "fast" in synonyms("quick") and "car" not in synonyms("car")
    assert synonyms("the") == ()


def test_glove_neighbours_are_near():
    neighbours = GloveNeighbours()
    assert "truck" in neighbours("car") and len(neighbours("car")) == 5
    assert neighbours("qwxzv") == ()


def test_only_train_grows_and_copies_repeat():
    options = Augmentation(augment_delete_prob=0.3, augment_swap_prob=0.2, augment_copies=2)
    original = corpus()
    augmented = augment_train_split(original, options, seed=3)
    assert len(augmented["train"]) == 3 * len(original["train"])
    for split in ("validation", "test"):
        assert augmented[split]["text"] == original[split]["text"]
    texts, labels = augmented["train"]["text"], augmented["train"]["label"]
    assert texts[0::3] == original["train"]["text"]  # each original, then its copies, same label
    assert labels[1::3] == labels[0::3] == original["train"]["label"]
    assert augment_train_split(original, options, seed=3)["train"]["text"] == texts
    assert augment_train_split(original, options, seed=4)["train"]["text"] != texts
    assert augment_train_split(original, Augmentation(), seed=3) is original  # all off: untouched
    assert len(augment_train_split(original, options, seed=-5)["train"]) == len(texts)  # any int seed


@pytest.mark.parametrize(
    "settings", [{"augment_delete_prob": 1.5}, {"augment_copies": 0}, {"synonym_source": "thesaurus"}]
)
def test_bad_settings_say_what_is_accepted(settings):
    with pytest.raises(TextclsError):
        Augmentation(**settings)


def test_a_run_trains_on_the_augmented_split(tmp_path):
    from tests.test_run_classification import config_for, write_splits
    from tests.tiny_models import build_tiny_model

    files = write_splits(tmp_path, 60, 15, 15)
    model_dir = build_tiny_model(tmp_path / "bert", "bert", ["rocket orbit goal recipe"], 3)
    settings = dict(augment_swap_prob=0.2, augment_copies=2, num_train_epochs=1, embedding_projection=False)
    results = run_classification.main([config_for(tmp_path, model_dir, files, **settings)])
    assert results["train_samples"] == 180
    assert json.loads((tmp_path / "out" / "all_results.json").read_text())["test_samples"] == 15
