"""A hard memory limit for one child process: a memory cgroup of its own (v1 or v2), made inside this process's.

RSS counts the clean, memory-mapped pages of Arrow files, which the kernel keeps while memory is free. Under a hard
limit it must reclaim them instead, so a run that completes under the limit needs no more than the limit, and one
that needs more is OOM-killed: a yes-or-no test of a peak-memory target that RSS alone cannot give.

The group is created as a child of the group this process is in (read from /proc/self/cgroup), so whatever
accounts for this process's memory still counts the child's; it is removed when the run ends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textcls_errors import TextclsError

MIB = 2**20


@dataclass
class MemoryCgroup:
    """A created child memory cgroup (`version` 1 or 2) with a hard limit."""

    folder: Path
    version: int
    limit_mib: int

    def add(self, pid: int) -> None:
        """Put the process `pid` in the group (its children follow it)."""
        (self.folder / "cgroup.procs").write_text(str(pid))

    def read(self, name: str) -> str | None:
        try:
            return (self.folder / name).read_text()
        except OSError:
            return None

    def counter(self, name: str, key: str) -> int | None:
        """The value of `key` in a flat keyed file (memory.stat, memory.events, memory.oom_control)."""
        for line in (self.read(name) or "").splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == key:
                return int(fields[1])
        return None

    def report(self) -> dict[str, float | int | None]:
        """What the run cost the group: its peak usage (page cache included), how often it hit the limit, the
        major page faults (pages read again from disk after reclaim) and the OOM kills."""
        if self.version == 1:
            peak = self.read("memory.max_usage_in_bytes")
            failcnt = self.read("memory.failcnt")
            return {
                "limit_mib": self.limit_mib,
                "cgroup_peak_mib": int(peak) / MIB if peak else None,
                "limit_hits": int(failcnt) if failcnt else None,
                "major_faults": self.counter("memory.stat", "total_pgmajfault"),
                "oom_kills": self.counter("memory.oom_control", "oom_kill"),
            }
        peak = self.read("memory.peak")  # kernel 5.19 and later
        return {
            "limit_mib": self.limit_mib,
            "cgroup_peak_mib": int(peak) / MIB if peak else None,
            "limit_hits": self.counter("memory.events", "max"),
            "major_faults": self.counter("memory.stat", "pgmajfault"),
            "oom_kills": self.counter("memory.events", "oom_kill"),
        }

    def remove(self) -> None:
        """Remove the group (its processes have ended; the kernel moves what they left charged to the parent)."""
        try:
            self.folder.rmdir()
        except OSError:
            pass


def memory_hierarchies(mounts: str, own_cgroups: str) -> list[tuple[int, Path]]:
    """(version, this process's group folder) for each mounted memory hierarchy, v2 first, from the text of
    /proc/self/mounts and /proc/self/cgroup."""
    v1_roots, v2_roots = [], []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "cgroup" and "memory" in fields[3].split(","):
            v1_roots.append(Path(fields[1]))
        elif len(fields) >= 3 and fields[2] == "cgroup2":
            v2_roots.append(Path(fields[1]))
    found = []
    for line in own_cgroups.splitlines():
        number, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if number == "0" and controllers == "":
            found += [(2, root / relative) for root in v2_roots if "memory" in read_words(root / relative)]
        elif "memory" in controllers.split(","):
            found += [(1, root / relative) for root in v1_roots]
    return sorted(found, key=lambda hierarchy: -hierarchy[0])


def read_words(path: Path, name: str = "cgroup.controllers") -> list[str]:
    try:
        return (path / name).read_text().split()
    except OSError:
        return []


def create_memory_cgroup(
    limit_mib: int, name: str, mounts: str | None = None, own_cgroups: str | None = None
) -> MemoryCgroup:
    """A new child group `name` of this process's memory cgroup, limited to `limit_mib` MiB (swap too, where the
    kernel accounts it, so that the limit cannot be met by swapping). TextclsError when no hierarchy lets us."""
    if isinstance(limit_mib, bool) or not isinstance(limit_mib, int) or limit_mib <= 0:
        raise TextclsError(f"memory limit {limit_mib!r}: expected a positive whole number of MiB")
    mounts = Path("/proc/self/mounts").read_text() if mounts is None else mounts
    own_cgroups = Path("/proc/self/cgroup").read_text() if own_cgroups is None else own_cgroups
    hierarchies = memory_hierarchies(mounts, own_cgroups)
    failures = []
    for version, parent in hierarchies:
        folder = parent / name
        try:
            if version == 2 and "memory" not in read_words(parent, "cgroup.subtree_control"):
                (parent / "cgroup.subtree_control").write_text("+memory")
            folder.mkdir()
        except OSError as error:
            failures.append(f"{parent} (cgroup v{version}): {error.strerror or error}")
            continue
        group = MemoryCgroup(folder, version, limit_mib)
        try:
            limit = str(limit_mib * MIB)
            if version == 1:
                (folder / "memory.limit_in_bytes").write_text(limit)
                if (folder / "memory.memsw.limit_in_bytes").exists():
                    (folder / "memory.memsw.limit_in_bytes").write_text(limit)
            else:
                (folder / "memory.max").write_text(limit)
                if (folder / "memory.swap.max").exists():
                    (folder / "memory.swap.max").write_text("0")
        except OSError as error:
            group.remove()
            failures.append(f"{folder} (cgroup v{version}): {error.strerror or error}")
            continue
        return group
    where = "; ".join(failures) if failures else "no memory controller is mounted for this process"
    raise TextclsError(
        f"a memory limit needs a writable memory cgroup (v1 memory.limit_in_bytes or v2 memory.max) for this "
        f"process, usually as root: {where}. Run without the limit, or as a user who may create cgroups."
    )


def own_pid_into(group: MemoryCgroup):
    """A subprocess `preexec_fn` that puts the child in `group` before it runs anything."""
    return lambda: group.add(os.getpid())
