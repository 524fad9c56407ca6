"""Snapshot and index files: the local cache survives a restart; a damaged file never crashes it.

Layout of `snapshot_dir`:
  cache.snapshot           MAGIC, sha256 of the payload, then the payload: zlib-compressed JSON
                           lines, one entry each (answer, texts, vector as base64 float32)
  index-<partition>.usearch  MAGIC, sha256, then usearch's own serialisation of one partition

Every file is written to a temporary name and renamed, so a crash mid-write leaves the previous
file. On load, a bad checksum, a truncated file or an index that disagrees with the snapshot is
logged and the index rebuilt from the snapshot's vectors; a bad snapshot is logged, moved aside
(`.corrupt`) and the cache starts empty.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from usearch.index import Index

from runtime.cache.index import new_index
from runtime.cache.store import Entry

if TYPE_CHECKING:
    from runtime.cache.cache import FrugalCache

log = logging.getLogger("frugal.cache.persist")

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


def _entry_record(entry: Entry) -> dict[str, object]:
    record: dict[str, object] = {
        "key": entry.key, "tenant": entry.tenant, "model": entry.model, "tier": entry.tier,
        "body": entry.body.decode(), "pt": entry.prompt_tokens, "ct": entry.completion_tokens,
        "created": entry.created_at, "expires": entry.expires_at,
    }  # fmt: skip
    if entry.vector is not None:
        record.update(
            scope=entry.scope, text=entry.text, label=entry.label,
            vector=base64.b64encode(np.asarray(entry.vector, dtype=np.float32).tobytes()).decode(),
        )  # fmt: skip
    return record


def entry_from_record(record: dict[str, object]) -> Entry:
    vector = None
    if record.get("vector"):
        vector = np.frombuffer(base64.b64decode(str(record["vector"])), dtype=np.float32).copy()
    return Entry(
        key=str(record["key"]), tenant=str(record["tenant"]), model=str(record["model"]), tier=str(record["tier"]),
        body=str(record["body"]).encode(), prompt_tokens=int(record["pt"]), completion_tokens=int(record["ct"]),  # type: ignore[arg-type]
        created_at=float(record["created"]), expires_at=float(record["expires"]),  # type: ignore[arg-type]
        scope=record.get("scope"), text=record.get("text"), vector=vector,  # type: ignore[arg-type]
        label=int(record.get("label", -1)),  # type: ignore[arg-type]
    )  # fmt: skip


def entry_to_json(entry: Entry) -> str:
    return json.dumps(_entry_record(entry), separators=(",", ":"), ensure_ascii=False)


def save_snapshot(cache: FrugalCache, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    entries = cache.entries()  # least recently used first: restoring in this order keeps the LRU order
    header = {"version": 1, "replica_id": cache.replica_id, "stream_id": getattr(cache.shared, "last_id", None)}
    lines = [json.dumps(header)] + [entry_to_json(e) for e in entries]
    _write_atomic(directory / SNAPSHOT_NAME, SNAPSHOT_MAGIC, zlib.compress("\n".join(lines).encode(), 3))
    keep = {SNAPSHOT_NAME}
    for tenant, model in cache._index.partitions():
        index = cache._index.get((tenant, model))
        if index is None:
            continue
        name = partition_file(tenant, model)
        _write_atomic(directory / name, INDEX_MAGIC, bytes(index.save()))
        keep.add(name)
    for stale in directory.glob("index-*.usearch"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)


def load_snapshot(cache: FrugalCache, directory: Path) -> int:
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
    restored = cache.restore_entries(entries)
    if cache.shared is not None and header.get("stream_id"):
        cache.shared.last_id = header["stream_id"]
    for (tenant, model), members in cache.semantic_partitions().items():
        saved = _saved_index(cache, directory, tenant, model, {e.label for e in members})
        if saved is not None:
            cache._index.put_index((tenant, model), saved)
        else:
            labels = np.array([e.label for e in members], dtype=np.uint64)
            cache._index.rebuild((tenant, model), labels, np.stack([e.vector for e in members]))
    log.info("cache snapshot restored: %d entries from %s", restored, path)
    return restored


def _saved_index(cache: FrugalCache, directory: Path, tenant: str, model: str, expected: set[int]) -> Index | None:
    """The saved index of a partition if it is intact and holds exactly the snapshot's labels."""
    path = directory / partition_file(tenant, model)
    if not path.exists():
        log.warning("cache index %s missing; rebuilt from the snapshot's vectors", path.name)
        return None
    try:
        payload = _read_checked(path, INDEX_MAGIC)
        saved: Index = new_index(cache.settings.index_dtype)
        saved.load(payload)
        keys = {int(k) for k in saved.keys}
    except Exception as exc:  # usearch raises RuntimeError/ValueError of its own on bad input
        log.warning("cache index %s unusable (%s); rebuilt from the snapshot's vectors", path.name, exc)
        return None
    if keys != expected:
        log.warning("cache index %s disagrees with the snapshot; rebuilt from the snapshot's vectors", path.name)
        return None
    return saved
