"""preprocessing_num_workers: splits big enough are mapped by several processes with the result of one; small
splits by fewer (a worker costs seconds to start)."""

import gc

from datasets import Dataset, DatasetDict

from data_scripts import map_cache
from data_scripts.map_cache import workers_for
from data_scripts.text_cleaning import TextCleaning, clean_corpus


def test_each_worker_gets_enough_rows():
    assert workers_for(9_999, 2) is None and workers_for(10_000, 2) == 2 and workers_for(10**6, 2) == 2
    # One process is this one: datasets would start a pool of one worker for num_proc=1.
    assert workers_for(50, None) is None and workers_for(10**6, 1) is None and workers_for(3, 4) is None


def test_two_workers_clean_as_one(tmp_path, monkeypatch):
    monkeypatch.setattr(map_cache, "MIN_ROWS_PER_WORKER", 3)
    texts = [f"Doc {i}: The QUICK brown fox, number {i}, jumps!" for i in range(12)]
    corpus = DatasetDict(train=Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(12)]}))
    corpus["test"] = corpus["train"].select(range(4))  # 4 rows: mapped in this process
    options = TextCleaning(simple_preprocess=True)
    one = clean_corpus(corpus, options, num_proc=1, cache_dir=str(tmp_path / "one"))
    two = clean_corpus(corpus, options, num_proc=2, cache_dir=str(tmp_path / "two"))
    assert two["train"]["text"] == one["train"]["text"] and two["test"]["text"] == one["test"]["text"]
    assert one["train"]["text"][3] == "doc the quick brown fox number jumps"
    shards = sorted(path.name.split("_")[0].split("-")[0] for path in (tmp_path / "two").rglob("*_of_00002.arrow"))
    assert shards == ["train", "train"]  # train in two processes, test in one


def _frozen_objects(batch: dict[str, list]) -> dict[str, list]:
    return {"frozen": [gc.get_freeze_count()] * len(batch["text"])}


def test_workers_fork_from_a_frozen_heap_that_is_thawed_after(tmp_path, monkeypatch):
    """A worker's garbage collections skip the heap it inherits (no pages copied for them): gc.freeze before the
    workers fork, gc.unfreeze after; a split mapped in this process freezes nothing."""
    monkeypatch.setattr(map_cache, "MIN_ROWS_PER_WORKER", 3)
    before = gc.get_freeze_count()
    corpus = DatasetDict(
        train=Dataset.from_dict({"text": [f"doc {i}" for i in range(12)]}), test=Dataset.from_dict({"text": ["a", "b"]})
    )
    mapped = map_cache.map_corpus(corpus, _frozen_objects, num_proc=2, cache_dir=str(tmp_path))
    assert min(mapped["train"]["frozen"]) > before
    assert mapped["test"]["frozen"] == [before, before]
    assert gc.get_freeze_count() == before


def test_recomputing_with_more_workers_maps_in_that_many_shards(tmp_path, monkeypatch):
    """overwrite_cache after a one-process cache of the same split: datasets would reuse that cache's shard count
    (one), leaving the second worker idle."""
    monkeypatch.setattr(map_cache, "MIN_ROWS_PER_WORKER", 3)
    corpus = DatasetDict(train=Dataset.from_dict({"text": [f"Doc {i} is HERE" for i in range(12)]}))
    options = TextCleaning(simple_preprocess=True)
    one = clean_corpus(corpus, options, num_proc=1, cache_dir=str(tmp_path))
    two = clean_corpus(corpus, options, num_proc=2, cache_dir=str(tmp_path), overwrite_cache=True)
    assert sorted(path.name.split("_", 1)[1] for path in tmp_path.rglob("train-*.arrow")) == [
        "00000_of_00002.arrow",
        "00001_of_00002.arrow",
    ]  # the one-process file was replaced by two shards
    assert two["train"]["text"] == one["train"]["text"]
    again = clean_corpus(corpus, options, num_proc=1, cache_dir=str(tmp_path), overwrite_cache=True)
    assert again["train"]["text"] == one["train"]["text"] and len(list(tmp_path.rglob("train-*.arrow"))) == 1
