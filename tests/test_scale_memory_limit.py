"""benchmarks/scale.py --memory_limit_mib: the option's checks and the cgroup files it writes and reads, on folders
standing in for the cgroup file systems (nothing here creates a real cgroup)."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import memory_cgroup, scale
from benchmarks.memory_cgroup import create_memory_cgroup, memory_hierarchies
from textcls_errors import TextclsError

MIB = 2**20


def v1_system(tmp_path, memsw=True):
    """A v1 memory hierarchy mounted at tmp/memory, this process in /jobs/ours."""
    ours = tmp_path / "memory" / "jobs" / "ours"
    ours.mkdir(parents=True)
    mounts = f"cgroup {tmp_path / 'memory'} cgroup rw,relatime,memory 0 0\n"
    mounts += f"cgroup {tmp_path / 'cpu'} cgroup rw,cpu 0 0\n"
    return mounts, "5:cpu:/\n4:memory:/jobs/ours\n0::/\n", ours, memsw


def kernel_files_on_mkdir(monkeypatch, *names: str) -> None:
    """The kernel makes a new group's files; the stand-in makes them (empty) when a folder is made."""
    path_type = type(Path())
    real_mkdir = path_type.mkdir

    def mkdir(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        for name in names:
            (path / name).write_text("")

    monkeypatch.setattr(path_type, "mkdir", mkdir)


def test_a_v1_group_is_made_inside_our_own_with_the_limit_and_no_swap_beyond_it(tmp_path, monkeypatch):
    mounts, own, ours, _ = v1_system(tmp_path)
    kernel_files_on_mkdir(monkeypatch, "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "cgroup.procs")
    group = create_memory_cgroup(1800, "run-1", mounts=mounts, own_cgroups=own)
    assert group.folder == ours / "run-1" and group.version == 1
    assert (group.folder / "memory.limit_in_bytes").read_text() == str(1800 * MIB)
    assert (group.folder / "memory.memsw.limit_in_bytes").read_text() == str(1800 * MIB)
    group.add(4321)
    assert (group.folder / "cgroup.procs").read_text() == "4321"
    (group.folder / "memory.max_usage_in_bytes").write_text(str(1700 * MIB))
    (group.folder / "memory.failcnt").write_text("12\n")
    (group.folder / "memory.stat").write_text("cache 10\npgmajfault 3\ntotal_pgmajfault 7\n")
    (group.folder / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    report = group.report()
    assert report == {"limit_mib": 1800, "cgroup_peak_mib": 1700.0, "limit_hits": 12, "major_faults": 7, "oom_kills": 1}
    for path in group.folder.iterdir():  # the kernel's files go with the group; the stand-in's must go first
        path.unlink()
    group.remove()
    assert not group.folder.exists() and ours.is_dir()


def test_a_v2_group_enables_the_memory_controller_and_forbids_swap(tmp_path, monkeypatch):
    ours = tmp_path / "unified" / "session"
    ours.mkdir(parents=True)
    (ours / "cgroup.controllers").write_text("cpu io memory pids\n")
    (ours / "cgroup.subtree_control").write_text("")
    kernel_files_on_mkdir(monkeypatch, "memory.max", "memory.swap.max", "cgroup.procs")
    mounts = f"cgroup2 {tmp_path / 'unified'} cgroup2 rw,relatime 0 0\n"
    group = create_memory_cgroup(500, "run-2", mounts=mounts, own_cgroups="0::/session\n")
    assert group.version == 2
    assert (ours / "cgroup.subtree_control").read_text() == "+memory"
    assert (group.folder / "memory.max").read_text() == str(500 * MIB)
    assert (group.folder / "memory.swap.max").read_text() == "0"
    (group.folder / "memory.peak").write_text(str(400 * MIB))
    (group.folder / "memory.events").write_text("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    (group.folder / "memory.stat").write_text("anon 1\npgmajfault 9\n")
    assert group.report() == {"limit_mib": 500, "cgroup_peak_mib": 400.0, "limit_hits": 5, "major_faults": 9,
                              "oom_kills": 1}  # fmt: skip


def test_hierarchies_are_found_for_this_process_v2_first(tmp_path):
    mounts, own, ours, _ = v1_system(tmp_path)
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("memory\n")
    mounts += f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0\n"
    assert memory_hierarchies(mounts, own) == [(2, tmp_path / "unified"), (1, ours)]
    # A v2 hierarchy without the memory controller (a hybrid system's) does not count.
    (tmp_path / "unified" / "cgroup.controllers").write_text("cpu\n")
    assert memory_hierarchies(mounts, own) == [(1, ours)]


def test_without_a_writable_memory_cgroup_the_message_says_why(tmp_path):
    with pytest.raises(TextclsError, match="no memory controller is mounted"):
        create_memory_cgroup(100, "x", mounts="cgroup /c cgroup rw,cpu 0 0\n", own_cgroups="4:cpu:/\n")
    # Mounted, but our group's folder is not there (or not writable): each place tried is named.
    mounts = f"cgroup {tmp_path / 'missing'} cgroup rw,memory 0 0\n"
    with pytest.raises(TextclsError, match=r"writable memory cgroup.*missing/jobs.*cgroup v1"):
        create_memory_cgroup(100, "x", mounts=mounts, own_cgroups="4:memory:/jobs\n")
    with pytest.raises(TextclsError, match="positive whole number of MiB"):
        create_memory_cgroup(0, "x", mounts=mounts, own_cgroups="4:memory:/jobs\n")


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots"])
def test_the_option_refuses_what_is_not_a_positive_number_of_mib(value, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["scale.py", "--memory_limit_mib", value, "--data_dir", "x"])
    with pytest.raises(SystemExit) as stopped:
        scale.main()
    assert stopped.value.code == 2
    assert "--memory_limit_mib" in capsys.readouterr().err


def test_the_option_stops_before_any_corpus_when_no_cgroup_can_be_made(monkeypatch, capsys, tmp_path):
    def refuse(limit_mib, name):
        raise TextclsError("a memory limit needs a writable memory cgroup (...)")

    monkeypatch.setattr(scale, "create_memory_cgroup", refuse)
    monkeypatch.setattr(scale, "source_documents", lambda data_dir: pytest.fail("a corpus was built"))
    monkeypatch.setattr(sys, "argv", ["scale.py", "--memory_limit_mib", "1800", "--data_dir", str(tmp_path)])
    with pytest.raises(SystemExit) as stopped:
        scale.main()
    assert stopped.value.code == 2
    assert "writable memory cgroup" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("pass", "completed"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed"),
        ("exit(3)", "error"),
    ],
)
def test_a_limited_run_records_completion_or_an_oom_kill_and_removes_its_group(tmp_path, monkeypatch, code, outcome):
    made = []

    def fake_group(limit_mib, name):
        folder = tmp_path / "cgroup" / name
        folder.mkdir(parents=True)
        (folder / "memory.max_usage_in_bytes").write_text(str(90 * MIB))
        (folder / "memory.failcnt").write_text("0")
        (folder / "memory.oom_control").write_text("oom_kill 0\n")
        made.append(memory_cgroup.MemoryCgroup(folder, 1, limit_mib))
        return made[-1]

    monkeypatch.setattr(scale, "create_memory_cgroup", fake_group)
    monkeypatch.setattr(memory_cgroup.MemoryCgroup, "remove", lambda group: setattr(group, "removed", True))
    run = tmp_path / "run"
    run.mkdir()
    command = [sys.executable, "-c", code]
    if outcome == "error":
        with pytest.raises(subprocess.CalledProcessError):
            scale.run_limited(command, run, 100)
    else:
        scale.run_limited(command, run, 100)
    assert made[0].removed
    assert (made[0].folder / "cgroup.procs").read_text().isdigit()  # the child put itself in the group
    record = json.loads((run / "memory_limit.json").read_text())
    assert record["oom_killed"] == (outcome == "killed")
    assert record["returncode"] == {"completed": 0, "killed": -signal.SIGKILL, "error": 3}[outcome]
    cell = scale.limit_cell(run)
    assert ("OOM-killed" in cell) == (outcome == "killed")
    if outcome == "completed":
        assert cell.startswith("completed under 100 MiB (cgroup peak 90")
