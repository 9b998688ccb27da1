"""Test-only: every process launched with this folder on PYTHONPATH lists the files it writes, renames or deletes.

Python runs `sitecustomize` at start-up, so the launched script stays unchanged. Each process appends
"event<TAB>path" lines to $TEXTCLS_AUDIT_DIR/rank-$RANK.tsv for paths under $TEXTCLS_AUDIT_ROOT.
"""

import os
import sys

_ROOT = os.environ.get("TEXTCLS_AUDIT_ROOT")
_LOG = os.path.join(os.environ.get("TEXTCLS_AUDIT_DIR", "."), f"rank-{os.environ.get('RANK', '0')}.tsv")
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _record(event: str, paths) -> None:
    hits = [os.path.abspath(os.fsdecode(path)) for path in paths if isinstance(path, (str, bytes, os.PathLike))]
    hits = [path for path in hits if path.startswith(_ROOT)]
    if hits:
        with _open_log(_LOG, "a", encoding="utf-8") as log:  # the log itself lies outside the root: no recursion
            log.write(f"{event}\t{' -> '.join(hits)}\n")


def _hook(event: str, args) -> None:
    if event == "open" and args[2] & _WRITES:
        _record("write", args[:1])
    elif event == "os.rename":  # os.replace too
        _record("rename", args[:2])
    elif event in ("os.remove", "shutil.rmtree"):
        _record("delete", args[:1])


if _ROOT:
    _open_log = open
    _LOG = os.path.abspath(_LOG)
    sys.addaudithook(_hook)
