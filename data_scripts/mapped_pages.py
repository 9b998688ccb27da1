"""Keep the pages of memory-mapped Arrow files out of the process's resident set once they have been read.

datasets memory-maps its Arrow files, and every page a pass reads stays mapped in the process, so its RSS grows
with the corpus: a run over a million rows showed 4.4 GB of RSS for 1.2 GB of its own memory (huggingface/datasets
#4528 describes the same). Those pages are clean page cache that the kernel could drop, but tools that watch RSS
(job schedulers, container monitors, `top`) see the whole corpus. Here a thread tells the kernel, whenever the
process's file-backed RSS has grown by `threshold_mib`, that the read-only Arrow mappings' pages are not needed
(`madvise(MADV_DONTNEED)`): they leave the process's RSS and stay in the page cache, so reading them again costs a
minor fault, not a disk read. Writable mappings are never touched (dropping their pages would lose writes).
Linux only; elsewhere nothing is started.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import time
from pathlib import Path

MADV_DONTNEED = 4  # Linux's value on every architecture it runs on
MAPS = Path("/proc/self/maps")
STATUS = Path("/proc/self/status")

_started: threading.Thread | None = None
_start_lock = threading.Lock()
_releaser: ReleaseOnGrowth | None = None  # the background thread's; also asked by `release_if_grown`
_settings: tuple[float, float] | None = None  # (threshold_mib, interval_s) of the running thread


def read_only_arrow_mappings(maps: str) -> list[tuple[int, int]]:
    """(start, end) of each read-only mapping of an `.arrow` file in a /proc/PID/maps text."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "w" in fields[1] or not fields[5].endswith(".arrow"):
            continue
        start, end = (int(address, 16) for address in fields[0].split("-"))
        ranges.append((start, end))
    return ranges


@functools.cache  # looked up once, before the thread starts: a fork while the thread sat in dlopen could deadlock
def _madvise():
    libc = ctypes.CDLL(None, use_errno=True)
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def release_mapped_pages() -> int:
    """Drop the pages of this process's read-only Arrow mappings from its RSS; returns how many mappings."""
    madvise = _madvise()
    ranges = read_only_arrow_mappings(MAPS.read_text())
    for start, end in ranges:
        madvise(start, end - start, MADV_DONTNEED)  # a mapping unmapped meanwhile fails with EINVAL/ENOMEM: fine
    return len(ranges)


def file_rss_mib() -> float:
    """The process's file-backed resident memory (RssFile), in MiB."""
    for line in STATUS.read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    return 0.0


def supported() -> bool:
    return MAPS.is_file() and STATUS.is_file() and "RssFile:" in STATUS.read_text()


class ReleaseOnGrowth:
    """Releases the Arrow mappings' pages when file-backed RSS has grown by `threshold_mib` since the last release
    (or since the lowest level seen: the kernel may drop pages itself)."""

    def __init__(self, threshold_mib: float):
        self.threshold_mib = threshold_mib
        self.baseline = file_rss_mib()

    def check(self) -> bool:
        """Release if grown; returns whether it released."""
        now = file_rss_mib()
        if now - self.baseline < self.threshold_mib:
            self.baseline = min(self.baseline, now)
            return False
        release_mapped_pages()
        self.baseline = file_rss_mib()
        return True


def release_in_background(threshold_mib: float = 64, interval_s: float = 0.25) -> bool:
    """Start, once per process, a daemon thread that runs `ReleaseOnGrowth(threshold_mib).check()` every
    `interval_s` (it reads one /proc file). Returns whether such a thread runs."""
    global _started, _releaser, _settings
    with _start_lock:
        if _started is not None and _started.is_alive():
            return True
        if not supported():
            return False
        _madvise()
        if _settings is None:  # a forked process (datasets' map workers, DataLoader workers) gets a thread too
            os.register_at_fork(after_in_child=_restart_in_child)
        _settings = (threshold_mib, interval_s)
        releaser = _releaser = ReleaseOnGrowth(threshold_mib)

        def watch() -> None:  # lives as long as the process
            while True:
                time.sleep(interval_s)
                releaser.check()

        _started = threading.Thread(target=watch, name="release-mapped-pages", daemon=True)
        _started.start()
        return True


def _restart_in_child() -> None:
    """After a fork: threads do not survive one, and the parent's lock may have been held by another of its
    threads."""
    global _start_lock, _started, _releaser
    _start_lock, _started, _releaser = threading.Lock(), None, None
    release_in_background(*_settings)


def release_if_grown() -> None:
    """For loops that read mapped pages at random, faster than the thread looks: for each page read the kernel maps
    the cached pages around it too (fault-around, 64 KB), so a take of 100,000 scattered rows put a whole 1.2 GB file
    in RSS within 0.2 s. They call this between pieces; it costs one /proc read unless there is something to release.
    Does nothing unless `release_in_background` has started in this process."""
    if _releaser is not None:
        _releaser.check()
