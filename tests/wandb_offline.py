"""Read back what an offline W&B run wrote, to check what a run logged without a W&B server.

wandb 0.2x+ has no Python reader for its `.wandb` log (its core is in Go), so this reads the format
directly: a 7-byte header, then 32 KiB blocks of chunks (crc32, length, type) in LevelDB's log layout,
each record a `wandb_internal_pb2.Record` protobuf.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

HEADER = 7  # ":W&B", magic 0xBEE1, version
BLOCK = 32 * 1024
CHUNK_HEADER = struct.Struct("<IHB")  # crc32, payload length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run log"
    found, pending, position = [], b"", HEADER
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < CHUNK_HEADER.size:  # block trailer: zero padding
            position += left_in_block
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, position)
        if kind == 0:  # zero padding up to the end of the block
            position += left_in_block
            continue
        start = position + CHUNK_HEADER.size
        pending += data[start : start + length]
        position = start + length
        if kind in (FULL, LAST):
            found.append(pending)
            pending = b""
    return found


def offline_run(wandb_dir: Path) -> tuple[Path, list[dict]]:
    """The `files` folder of the one offline run under `wandb_dir`, and the history rows it logged."""
    from wandb.proto import wandb_internal_pb2

    runs = sorted(Path(wandb_dir).glob("wandb/offline-run-*"))
    assert len(runs) == 1, runs
    rows = []
    for raw in records(next(runs[0].glob("*.wandb"))):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items})
    return runs[0] / "files", rows
