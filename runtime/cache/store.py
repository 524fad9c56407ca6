"""The local entry store: TTL per entry, a byte budget with least-recently-used eviction.

Bounded by bytes, not rows: an entry's size is its stored answer, its embedded text, its vector
(and that vector's share of the HNSW graph) plus a fixed per-entry overhead, so a storm of long
answers evicts more entries than a storm of short ones and memory stays under the budget either way.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# Python objects around an entry (the dataclass, its strings, the dict slot, the heap item):
# measured with tracemalloc in tests/runtime/cache/test_store.py, rounded up.
ENTRY_OVERHEAD_BYTES = 640
# A vector's share of the HNSW graph beyond the vector itself (links at connectivity 16, level 0
# and upper levels); measured from usearch's memory_usage in bench/cache_index_latency.py.
INDEX_OVERHEAD_BYTES = 320

EvictReason = Literal["budget", "ttl", "invalidate", "replaced"]


@dataclass(slots=True, eq=False)
class Entry:
    key: str
    tenant: str
    model: str
    tier: str
    body: bytes
    """The upstream's chat.completion, compact JSON."""
    prompt_tokens: int
    completion_tokens: int
    created_at: float
    expires_at: float
    scope: str | None = None
    """Semantic scope (keys.semantic_scope); None for an exact-only entry."""
    text: str | None = None
    """The latest user turn that was embedded (for verification)."""
    vector: np.ndarray | None = None
    label: int = -1
    """The entry's key in the semantic index; -1 when not indexed."""
    nbytes: int = field(default=0)

    def __post_init__(self) -> None:
        if not self.nbytes:
            self.nbytes = entry_bytes(self)


def entry_bytes(entry: Entry) -> int:
    size = ENTRY_OVERHEAD_BYTES + len(entry.body) + len(entry.key) + len(entry.tenant) + len(entry.model)
    if entry.text is not None:
        size += len(entry.text.encode())
    if entry.vector is not None:
        # the float32 copy kept for persistence/rebuilds + the index's copy and graph links
        size += 2 * entry.vector.nbytes + INDEX_OVERHEAD_BYTES + len(entry.scope or "")
    return size


class EntryStore:
    """Exact-key map in LRU order. Not thread-safe: used from the event loop only."""

    def __init__(
        self,
        budget_bytes: int,
        *,
        on_evict: Callable[[Entry, EvictReason], None] | None = None,
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"cache byte budget must be positive (got {budget_bytes}); fix: set max_bytes > 0")
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._expiry: list[tuple[float, int, str]] = []
        self._seq = 0
        self.bytes = 0
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def peek(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def get(self, key: str, now: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._remove(entry, "ttl")
            return None
        self._entries.move_to_end(key)
        return entry

    def touch(self, entry: Entry) -> None:
        if self._entries.get(entry.key) is entry:
            self._entries.move_to_end(entry.key)

    def put(self, entry: Entry, now: float) -> bool:
        """Insert (or replace) an entry; False if it alone exceeds the budget (then nothing is kept)."""
        old = self._entries.get(entry.key)
        if old is not None:
            self._remove(old, "replaced")
        if entry.nbytes > self.budget_bytes:
            return False
        self._entries[entry.key] = entry
        self.bytes += entry.nbytes
        self._seq += 1
        heapq.heappush(self._expiry, (entry.expires_at, self._seq, entry.key))
        self.expire(now)
        while self.bytes > self.budget_bytes and self._entries:
            _, victim = next(iter(self._entries.items()))
            self._remove(victim, "budget")
        return entry.key in self._entries

    def expire(self, now: float) -> int:
        """Drop every entry whose TTL has passed (cheap: a heap of expiry times)."""
        dropped = 0
        while self._expiry and self._expiry[0][0] <= now:
            expires_at, _, key = heapq.heappop(self._expiry)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at <= now:
                self._remove(entry, "ttl")
                dropped += 1
        if len(self._expiry) > 4 * max(len(self._entries), 64):
            # replaced/evicted entries leave stale heap items behind: rebuild now and then
            self._expiry = [(e.expires_at, i, e.key) for i, e in enumerate(self._entries.values())]
            heapq.heapify(self._expiry)
        return dropped

    def remove_where(self, predicate: Callable[[Entry], bool], reason: EvictReason = "invalidate") -> int:
        victims = [e for e in self._entries.values() if predicate(e)]
        for entry in victims:
            self._remove(entry, reason)
        return len(victims)

    def _remove(self, entry: Entry, reason: EvictReason) -> None:
        if self._entries.get(entry.key) is not entry:
            return
        del self._entries[entry.key]
        self.bytes -= entry.nbytes
        if self._on_evict is not None:
            self._on_evict(entry, reason)
