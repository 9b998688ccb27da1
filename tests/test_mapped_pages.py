"""Pages of memory-mapped Arrow tables leave the process's RSS once read; the data read again is the same, and no
memory the caller does not hold, or that is not a read-only Arrow file mapping, is ever advised."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest
from datasets import Dataset

from data_scripts import mapped_pages
from data_scripts.mapped_pages import ReleaseOnGrowth, buffer_pages, read_only_arrow_mappings, release_tables

linux_only = pytest.mark.skipif(not mapped_pages.supported(), reason="needs /proc/self/maps and RssFile (Linux)")

MAPS = """\
7f0000300000-7f0000400000 r-xp 00000000 08:01 14 /usr/lib/libtorch_cpu.so
7f0000000000-7f0000100000 r--p 00000000 08:01 11 /cache/ag_news/cache-abc.arrow
7f0000100000-7f0000200000 r--s 00000000 08:01 12 /cache/cache-rows-def.arrow
7f0000200000-7f0000300000 rw-p 00000000 08:01 13 /cache/written.arrow
7f0000400000-7f0000500000 rw-p 00000000 00:00 0
7f0000500000-7f0000600000 r--p 00000000 08:01 15 /data/my file with spaces.arrow
7f0000600000-7f0000700000 r--p 00000000 08:01 16 /cache/replaced.arrow (deleted)
7f0000700000-7f0000800000 r--p 00000000 08:01 17 /cache/notes.arrow.txt (deleted)
"""


def test_only_read_only_arrow_mappings_count():
    assert read_only_arrow_mappings(MAPS) == [
        (0x7F0000000000, 0x7F0000100000),
        (0x7F0000100000, 0x7F0000200000),
        (0x7F0000500000, 0x7F0000600000),
        (0x7F0000600000, 0x7F0000700000),
    ]


def test_spans_are_joined_only_where_they_touch():
    assert mapped_pages.merged([(30, 40), (0, 10), (10, 20), (35, 50)]) == [(0, 20), (30, 50)]


def test_buffer_pages_are_whole_pages_within_each_chunks_buffers():
    table = pa.concat_tables([pa.table({"text": ["x" * (3 * mapped_pages.PAGE)], "label": [i]}) for i in range(2)])
    bounds = []
    for column in table.columns:
        for chunk in column.chunks:
            buffers = [buffer for buffer in chunk.buffers() if buffer is not None and buffer.size]
            bounds.append((min(b.address for b in buffers), max(b.address + b.size for b in buffers)))
    spans = list(buffer_pages(table))
    assert len(spans) >= 2  # each text chunk holds at least two whole pages
    for start, end in spans:
        assert start % mapped_pages.PAGE == 0 and end % mapped_pages.PAGE == 0 and end > start
        assert any(low <= start and end <= high for low, high in bounds)


def arrow_file(path, rows: int = 40_000) -> list[str]:
    texts = [f"document {i} " + "word " * 300 for i in range(rows)]  # about 60 MB
    table = pa.table({"text": texts})
    with pa.OSFile(str(path), "wb") as file, pa.ipc.new_stream(file, table.schema) as writer:
        writer.write_table(table, max_chunksize=1_000)
    return texts


def resident_mib(path) -> float:
    """The resident size of this process's mappings of `path`, in MiB (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5 and line.split()[4].isdigit():  # a mapping's header
            inside = line.rstrip("\n").endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total / 1024


def in_fresh_process(code: str) -> str:
    """Run `code` in a new interpreter and return what it prints: RSS figures must not see the background thread
    that any run_classification.main() of the same test process has started."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@linux_only
def test_released_pages_leave_rss_and_read_back_the_same(tmp_path):
    """(In this process: a release thread that an earlier main() started advises only the datasets it watches.)"""
    texts = arrow_file(tmp_path / "corpus.arrow")
    dataset = Dataset.from_file(str(tmp_path / "corpus.arrow"))
    assert [text for batch in dataset.iter(batch_size=1_000) for text in batch["text"]] == texts
    resident = resident_mib(tmp_path / "corpus.arrow")
    assert resident > 40, f"reading the mapped file should have put its pages in RSS ({resident:.0f} MiB)"
    assert release_tables([dataset.data.table]) > 40 * 2**20
    assert resident_mib(tmp_path / "corpus.arrow") < 4
    assert dataset["text"] == texts  # read again from the page cache: the same data


@linux_only
def test_memory_that_is_not_a_mapped_arrow_file_is_never_advised(tmp_path):
    """An in-memory table's buffers are the process's own memory: DONTNEED would zero them."""
    texts = [f"document {i} " + "word " * 300 for i in range(5_000)]
    table = pa.table({"text": texts})
    assert release_tables([table]) == 0
    assert table.column("text").to_pylist() == texts


@linux_only
def test_only_the_tables_held_are_released(tmp_path):
    """A table nobody hands over is left alone: it may be freed, and its addresses reused, at any moment."""
    held, other = (
        Dataset.from_file(str(arrow_file(tmp_path / name) and tmp_path / name)) for name in ("h.arrow", "o.arrow")
    )
    for dataset in (held, other):
        assert sum(len(batch["text"]) for batch in dataset.iter(batch_size=1_000)) == 40_000
    assert resident_mib(tmp_path / "h.arrow") > 40 and resident_mib(tmp_path / "o.arrow") > 40
    release_tables([held.data.table])
    assert resident_mib(tmp_path / "h.arrow") < 4 and resident_mib(tmp_path / "o.arrow") > 40


@linux_only
def test_release_on_growth_waits_for_the_threshold(tmp_path):
    arrow_file(tmp_path / "corpus.arrow")
    dataset = Dataset.from_file(str(tmp_path / "corpus.arrow"))
    releaser = ReleaseOnGrowth(threshold_mib=20)
    assert not releaser.check([dataset.data.table])  # nothing read yet
    assert len(dataset.select(range(100))["text"]) == 100  # a few pages: below the threshold
    assert not releaser.check([dataset.data.table])
    assert sum(len(batch["text"]) for batch in dataset.iter(batch_size=1_000)) == 40_000
    assert releaser.check([dataset.data.table])
    assert resident_mib(tmp_path / "corpus.arrow") < 4


@linux_only
def test_background_thread_keeps_peak_rss_below_the_file(tmp_path):
    """In a fresh process (the thread starts once per process): reading a 60 MB watched file slowly, with the thread
    on, the file-backed RSS never holds most of it."""
    arrow_file(tmp_path / "corpus.arrow")
    script = f"""
        import time
        from datasets import Dataset
        from data_scripts.mapped_pages import file_rss_mib, release_in_background, watch
        assert release_in_background(threshold_mib=8, interval_s=0.02)
        assert release_in_background()  # a second call starts nothing new
        dataset = Dataset.from_file({str(tmp_path / "corpus.arrow")!r})
        watch(dataset)
        start = file_rss_mib()
        highest = 0.0
        for batch in dataset.iter(batch_size=500):
            highest = max(highest, file_rss_mib() - start)
            time.sleep(0.01)
        print(round(highest))
        """
    highest = int(in_fresh_process(script))
    assert highest < 40, f"file-backed RSS grew by {highest} MiB while reading a 60 MB file with the thread on"


@linux_only
def test_scattered_takes_release_as_they_go(tmp_path):
    """A take of rows scattered over a mapped file maps nearly all of it at once (the kernel maps the pages around
    each one read), faster than the thread looks: take_from_batches asks for a release between record batches. The
    thread is started with an interval too long to act, so only those calls can keep the peak down."""
    arrow_file(tmp_path / "corpus.arrow")
    script = f"""
        import numpy as np, pyarrow as pa
        from datasets import Dataset
        from data_scripts.mapped_pages import release_in_background
        from data_scripts.splits import take_from_batches
        def status(key):
            return next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith(key))
        assert release_in_background(threshold_mib=8, interval_s=3600)
        table = Dataset.from_file({str(tmp_path / "corpus.arrow")!r}).data.table
        positions = np.sort(np.random.default_rng(0).choice(len(table), len(table) // 10, replace=False))
        start = status("VmRSS:")
        taken = take_from_batches(table, pa.array(positions, type=pa.uint64()))
        grown = status("VmHWM:") - start
        assert taken.column("text").to_pylist() == [table.slice(row, 1).column("text")[0].as_py() for row in positions]
        print(round(grown))
        """
    grown = int(in_fresh_process(script))
    assert grown < 30, f"peak RSS grew by {grown} MiB during a take of a tenth of a 60 MB file's rows"


def test_a_failed_release_never_stops_the_run(caplog, monkeypatch):
    """A dataset being freed on another thread is seen without its `_data`; any other failure is logged once."""
    from datasets import Dataset as HfDataset

    freed = HfDataset.from_dict({"text": ["a"]})
    mapped_pages.watch(freed)
    del freed._data  # what Dataset.__del__ does before the weakref is cleared
    assert all(table is not None for table in mapped_pages.watched_tables())

    def broken(tables):
        raise OSError("no /proc here")

    monkeypatch.setattr(mapped_pages, "release_tables", broken)
    monkeypatch.setattr(mapped_pages, "_warned", False)
    releaser = ReleaseOnGrowth(threshold_mib=0)
    for _ in range(2):
        mapped_pages.check_quietly(releaser, [])
    assert [record.getMessage() for record in caplog.records].count(
        "could not release mapped pages from RSS (the run goes on): OSError('no /proc here')"
    ) == 1


def test_the_run_watches_what_it_reads_and_maps(tmp_path):
    """load_corpus's splits, every datasets.map result and clean_corpus's splits (new datasets over the map's files,
    the map's own dropped) are covered by the release while they live."""
    from data_scripts import TextCleaning, clean_corpus, load_corpus
    from data_scripts.map_cache import map_corpus

    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(40)))
    corpus = load_corpus(None, train_file=str(tmp_path / "train.csv"), cache_dir=str(tmp_path / "cache"))
    mapped = map_corpus(corpus, lambda batch: {"n": [len(t) for t in batch["text"]]}, num_proc=None, cache_dir=None)
    cleaned = clean_corpus(corpus, TextCleaning(simple_preprocess=True, max_doc_tokens=1), cache_dir=str(tmp_path))
    watched = mapped_pages.watched_tables()
    for dataset in [*corpus.values(), *mapped.values(), *cleaned.values()]:
        assert any(table is dataset.data.table for table in watched)
