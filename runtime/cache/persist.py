"""Snapshot and index files: the local cache survives a restart; a damaged file never crashes it.

Layout of `snapshot_dir`:
  cache.snapshot           MAGIC, sha256 of the payload, then the payload: zlib-compressed JSON
                           lines, one entry each (answer, texts, vector as base64 float32)
  index-<partition>.usearch  MAGIC, sha256, then usearch's own serialisation of one partition

Every file is written to a temporary name and renamed, so a crash mid-write leaves the previous
file. On load, a bad checksum, a truncated file or an index that disagrees with the snapshot is
logged and the index rebuilt from the snapshot's vectors; a bad snapshot is logged, moved aside
(`.corrupt`) and the cache starts empty.

Reads and writes the local tier only (local.py); the facade says when.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.cache.index import new_index
from runtime.cache.local import LocalTier
from runtime.cache.records import entry_from_record, entry_to_json

if TYPE_CHECKING:
    from usearch.index import Index

log = logging.getLogger(__name__)

SNAPSHOT_MAGIC = b"FRUGAL-CACHE-SNAPSHOT-1\n"
INDEX_MAGIC = b"FRUGAL-CACHE-INDEX-1\n"
SNAPSHOT_NAME = "cache.snapshot"


class CorruptFile(ValueError):
    pass


def _write_atomic(path: Path, magic: bytes, payload: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(magic + hashlib.sha256(payload).digest() + payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_checked(path: Path, magic: bytes) -> bytes:
    blob = path.read_bytes()
    if not blob.startswith(magic):
        raise CorruptFile(f"{path}: not a frugal cache file (bad header)")
    digest, payload = blob[len(magic) : len(magic) + 32], blob[len(magic) + 32 :]
    if len(digest) != 32 or hashlib.sha256(payload).digest() != digest:
        raise CorruptFile(f"{path}: checksum mismatch (truncated or corrupt)")
    return payload


def partition_file(tenant: str, model: str) -> str:
    return "index-" + hashlib.blake2b(f"{tenant}\0{model}".encode(), digest_size=10).hexdigest() + ".usearch"


def save_snapshot(local: LocalTier, directory: Path, *, replica_id: str, stream_id: str | None = None) -> None:
    """Write every entry and every partition's index; `stream_id` (the Redis stream position) is
    recorded in the header for inspection: a restarted replica still reads the whole stream."""
    directory.mkdir(parents=True, exist_ok=True)
    header = {"version": 1, "replica_id": replica_id, "stream_id": stream_id}
    lines = [json.dumps(header)] + [entry_to_json(e) for e in local.entries()]
    _write_atomic(directory / SNAPSHOT_NAME, SNAPSHOT_MAGIC, zlib.compress("\n".join(lines).encode(), 3))
    keep = {SNAPSHOT_NAME}
    for (tenant, model), index in local.indexes():
        name = partition_file(tenant, model)
        serialised = index.save()  # without a path usearch returns the bytes
        if serialised is None:
            raise ValueError(f"usearch returned no serialisation for partition {tenant!r}/{model!r}")
        _write_atomic(directory / name, INDEX_MAGIC, bytes(serialised))
        keep.add(name)
    for stale in directory.glob("index-*.usearch"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)


def load_snapshot(local: LocalTier, directory: Path) -> int:
    """Restore entries and indexes; returns the number of entries restored (0 after any damage)."""
    path = directory / SNAPSHOT_NAME
    if not path.exists():
        return 0
    try:
        lines = zlib.decompress(_read_checked(path, SNAPSHOT_MAGIC)).decode().split("\n")
        header = json.loads(lines[0])
        if header.get("version") != 1:
            raise CorruptFile(f"{path}: unknown snapshot version {header.get('version')}")
        records = [json.loads(line) for line in lines[1:] if line]
        entries = [entry_from_record(r) for r in records]
    except (CorruptFile, zlib.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        log.error("cache snapshot unreadable, starting empty and rebuilding: %s", exc)
        os.replace(path, path.with_name(path.name + ".corrupt"))
        return 0
    restored = local.restore(entries)
    for (tenant, model), members in local.semantic_partitions().items():
        saved = _saved_index(local, directory, tenant, model, {e.label for e in members})
        if saved is not None:
            local.put_index((tenant, model), saved)
        else:
            local.rebuild_index((tenant, model), members)
    log.info("cache snapshot restored: %d entries from %s", restored, path)
    return restored


def _saved_index(local: LocalTier, directory: Path, tenant: str, model: str, expected: set[int]) -> Index | None:
    """The saved index of a partition if it is intact and holds exactly the snapshot's labels."""
    path = directory / partition_file(tenant, model)
    if not path.exists():
        log.warning("cache index %s missing; rebuilt from the snapshot's vectors", path.name)
        return None
    try:
        payload = _read_checked(path, INDEX_MAGIC)
        saved = new_index(local.settings.index_dtype)
        saved.load(payload)
        labels = {int(k) for k in saved.keys}
    except Exception as exc:  # usearch raises RuntimeError/ValueError of its own on bad input
        log.warning("cache index %s unusable (%s); rebuilt from the snapshot's vectors", path.name, exc)
        return None
    if labels != expected:
        log.warning("cache index %s disagrees with the snapshot; rebuilt from the snapshot's vectors", path.name)
        return None
    return saved
