"""Keep the pages of memory-mapped Arrow files out of the process's resident set once they have been read.

datasets memory-maps its Arrow files, and every page a pass reads stays mapped in the process, so its RSS grows
with the corpus: a run over a million rows peaked at 4,427 MiB of RSS for 1,163 MiB of its own (huggingface/datasets
#4528 describes the same). Those pages are clean page cache that the kernel could drop, but tools that watch RSS
(job schedulers, container monitors, `top`) see the whole corpus. Here the run tells the kernel that the pages of the
datasets it watches are not needed (`madvise(MADV_DONTNEED)`) whenever its file-backed RSS has grown by a threshold:
they leave the process's RSS and stay in the page cache, so reading them again costs a minor fault, not a disk read.

Only memory the caller holds is advised: the record batches of tables it has a reference to, and of those only the
pages that lie in a read-only mapping of an `.arrow` file. Advising addresses read from /proc/self/maps alone would race
with the table being freed and the addresses reused for new memory, which DONTNEED would silently zero. So the run
`watch`es the datasets it holds (load_corpus's splits, every `map_corpus` result, clean_corpus's splits), weakly: a
dataset derived from a watched one shares its pages while the watched one lives; one that outlives it is not
covered, and its pages simply stay in RSS as before. Linux only; elsewhere nothing is started and nothing is advised.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import logging
import mmap
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
from datasets import Dataset, DatasetDict

logger = logging.getLogger(__name__)

MAPS = Path("/proc/self/maps")
STATUS = Path("/proc/self/status")
PAGE = mmap.PAGESIZE

_lock = threading.Lock()  # guards the state below
_watched: list[weakref.ref] = []  # the datasets whose tables the release covers (weak: they may be dropped)
_thread: threading.Thread | None = None
_releaser: ReleaseOnGrowth | None = None  # the thread's; also asked by `release_if_grown`
_warned = False  # a failed release is logged once


def supported() -> bool:
    return hasattr(mmap, "MADV_DONTNEED") and MAPS.is_file() and STATUS.is_file() and "RssFile:" in STATUS.read_text()


@functools.cache  # looked up once, before the thread starts: a fork while the thread sat in dlopen could deadlock
def _madvise():
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def read_only_arrow_mappings(maps: str) -> list[tuple[int, int]]:
    """(start, end) of each read-only mapping of an `.arrow` file in a /proc/PID/maps text, sorted."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        # A file deleted or replaced while mapped shows as "... (deleted)": its inode, and content, live on.
        if len(fields) < 6 or "w" in fields[1] or not fields[5].removesuffix(" (deleted)").endswith(".arrow"):
            continue
        start, end = (int(address, 16) for address in fields[0].split("-"))
        ranges.append((start, end))
    return sorted(ranges)


def buffer_pages(table: pa.Table) -> Iterator[tuple[int, int]]:
    """(start, end) of the whole pages inside each chunk's buffers (children's included), one span per chunk: the
    buffers of a record batch read from a file lie together in its body, so the span is that batch's file content."""
    for column in table.columns:
        for chunk in column.chunks:
            buffers = [buffer for buffer in chunk.buffers() if buffer is not None and buffer.size]
            if not buffers:
                continue
            start = -(-min(buffer.address for buffer in buffers) // PAGE) * PAGE
            end = max(buffer.address + buffer.size for buffer in buffers) // PAGE * PAGE
            if end > start:
                yield start, end


def release_tables(tables: Iterable[pa.Table]) -> int:
    """Drop from this process's RSS the pages of these tables that lie in read-only `.arrow` file mappings; returns
    the bytes advised. The tables are held for the whole call, so no mapping read from /proc/self/maps can be unmapped
    (and its addresses reused) before the advice."""
    held = list({id(table): table for table in tables}.values())
    mappings = read_only_arrow_mappings(MAPS.read_text())
    starts = [start for start, _ in mappings]
    spans = []
    for table in held:
        for start, end in buffer_pages(table):
            where = bisect.bisect_right(starts, start) - 1
            if where >= 0 and end <= mappings[where][1]:
                spans.append((start, end))
    madvise, advised = _madvise(), 0
    for start, end in merged(spans):
        madvise(start, end - start, mmap.MADV_DONTNEED)
        advised += end - start
    del held
    return advised


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans with overlapping or touching ones joined (no address outside them added): fewer system calls."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def watch(datasets: Dataset | DatasetDict) -> None:
    """Let the release cover these datasets' tables while they live (a DatasetDict: each split)."""
    splits = datasets.values() if isinstance(datasets, DatasetDict) else [datasets]
    with _lock:
        _watched[:] = [ref for ref in _watched if ref() is not None]
        known = {id(ref()) for ref in _watched}
        _watched.extend(weakref.ref(split) for split in splits if id(split) not in known)


def watched_tables() -> list[pa.Table]:
    with _lock:
        live = [ref() for ref in _watched]
    # A dataset being freed on another thread can be seen after its __del__ dropped `_data` (weakrefs are cleared
    # after __del__ runs): skip it.
    data = [getattr(dataset, "_data", None) for dataset in live if dataset is not None]
    return [table.table for table in data if table is not None]


def file_rss_mib() -> float:
    """The process's file-backed resident memory (RssFile), in MiB."""
    for line in STATUS.read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ReleaseOnGrowth:
    """Releases the watched tables' pages (and any given) when file-backed RSS has grown by `threshold_mib` since
    the last release (or since the lowest level seen: the kernel may drop pages itself)."""

    def __init__(self, threshold_mib: float):
        self.threshold_mib = threshold_mib
        self.baseline = file_rss_mib()

    def check(self, tables: Iterable[pa.Table] = ()) -> bool:
        """Release if grown; returns whether it released."""
        now = file_rss_mib()
        if now - self.baseline < self.threshold_mib:
            self.baseline = min(self.baseline, now)
            return False
        release_tables([*tables, *watched_tables()])
        self.baseline = file_rss_mib()
        return True


def release_in_background(threshold_mib: float = 64, interval_s: float = 0.25) -> bool:
    """Start, once per process, a daemon thread that runs `ReleaseOnGrowth(threshold_mib).check()` every
    `interval_s` (it reads one /proc file). Returns whether such a thread runs. Processes forked later (datasets' map
    workers, DataLoader workers) get no thread: their RSS is their own, and the run's is not theirs."""
    global _thread, _releaser
    with _lock:
        if _thread is not None and _thread.is_alive():
            return True
        if not supported():
            return False
        _madvise()
        releaser = _releaser = ReleaseOnGrowth(threshold_mib)

        def watch_growth() -> None:  # lives as long as the process
            while True:
                time.sleep(interval_s)
                check_quietly(releaser, ())

        _thread = threading.Thread(target=watch_growth, name="release-mapped-pages", daemon=True)
        _thread.start()
        return True


def check_quietly(releaser: ReleaseOnGrowth, tables: Iterable[pa.Table]) -> None:
    """A failed release must never stop a run (nor the thread): it is logged once and the pages stay in RSS."""
    global _warned
    try:
        releaser.check(tables)
    except Exception as error:  # any: see the docstring
        if not _warned:
            _warned = True
            logger.warning("could not release mapped pages from RSS (the run goes on): %r", error)


def release_if_grown(table: pa.Table) -> None:
    """For loops that read a table's mapped pages at random, faster than the thread looks: for each page read the
    kernel maps the cached pages around it too (fault-around, 64 KB), so a take of 90,000 scattered rows put a whole
    1,261 MiB file in RSS within 0.2 s (benchmarks/scattered_take.py). They call this between pieces with the table
    they read; it costs one /proc read unless there is something to release. Does nothing unless
    `release_in_background` has started in this process."""
    if _releaser is not None:
        check_quietly(_releaser, [table])
