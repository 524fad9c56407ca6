"""An entry as one JSON record: the line format of snapshots and of the Redis tier's values and stream.

The vector travels as base64 of its float32 bytes (exact, and a third the size of a JSON list).
Decoding raises ValueError, KeyError or TypeError on a malformed record; callers count and skip it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import numpy as np

from runtime.cache.store import Entry


def entry_record(entry: Entry) -> dict[str, object]:
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


def entry_to_json(entry: Entry) -> str:
    return json.dumps(entry_record(entry), separators=(",", ":"), ensure_ascii=False)


def entry_from_record(record: Mapping[str, object]) -> Entry:
    vector = None
    if record.get("vector"):
        vector = np.frombuffer(base64.b64decode(str(record["vector"])), dtype=np.float32).copy()
    return Entry(
        key=str(record["key"]), tenant=str(record["tenant"]), model=str(record["model"]), tier=str(record["tier"]),
        body=str(record["body"]).encode(), prompt_tokens=_int(record["pt"]), completion_tokens=_int(record["ct"]),
        created_at=_float(record["created"]), expires_at=_float(record["expires"]),
        scope=_optional_str(record.get("scope")), text=_optional_str(record.get("text")), vector=vector,
        label=_int(record.get("label", -1)),
    )  # fmt: skip


def _int(value: object) -> int:
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _float(value: object) -> float:
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
