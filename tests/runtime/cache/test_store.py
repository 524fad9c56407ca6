"""The byte-budget LRU store: eviction order, TTL, accounting close to real memory."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from runtime.cache.store import Entry, EntryStore


def entry(key: str, size: int = 100, expires_at: float = 1e12, vector: bool = False) -> Entry:
    return Entry(
        key=key, tenant="t", model="m", tier="m", body=b"x" * size, prompt_tokens=1, completion_tokens=1,
        created_at=0.0, expires_at=expires_at, scope="s" if vector else None, text="question" if vector else None,
        vector=np.ones(384, dtype=np.float32) if vector else None,
    )  # fmt: skip


def test_the_least_recently_used_entry_is_evicted_first() -> None:
    evicted: list[str] = []
    store = EntryStore(3 * entry("a").nbytes, on_evict=lambda e, r: evicted.append(e.key))
    for key in "abc":
        store.put(entry(key), now=0)
    store.get("a", now=0)
    store.put(entry("d"), now=0)
    assert evicted == ["b"], f"b was least recently used, so it goes first (evicted {evicted})"
    assert store.bytes <= store.budget_bytes, "bytes stay under the budget"


def test_an_entry_larger_than_the_budget_is_refused_without_evicting_others() -> None:
    store = EntryStore(10_000)
    store.put(entry("small"), now=0)
    assert not store.put(entry("huge", size=20_000), now=0), "an entry over the whole budget is refused"
    assert store.peek("small") is not None, "nothing was evicted for it"


def test_expired_entries_are_dropped_on_read_and_on_write() -> None:
    reasons: list[str] = []
    store = EntryStore(1_000_000, on_evict=lambda e, r: reasons.append(r))
    store.put(entry("a", expires_at=10), now=0)
    store.put(entry("b", expires_at=20), now=0)
    assert store.get("a", now=11) is None, "a read after the TTL misses"
    store.put(entry("c"), now=21)
    assert store.peek("b") is None and reasons == ["ttl", "ttl"], f"b expires on the next write ({reasons})"


def test_a_budget_of_zero_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        EntryStore(0)


def test_accounted_bytes_cover_the_python_memory_entries_really_use() -> None:
    store = EntryStore(10**9)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(2000):
        store.put(entry(f"{i:040d}", size=500, vector=True), now=0)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # the index's copy of the vector and its graph links live in usearch (C++), not in tracemalloc:
    # they are accounted as vector.nbytes + INDEX_OVERHEAD_BYTES per entry and measured in the bench
    python_share = store.bytes - 2000 * (384 * 4 + 320)
    assert used <= python_share * 1.1, f"Python memory {used} B must be within the accounted {python_share} B"
    assert used >= python_share * 0.5, f"the accounting ({python_share} B) must not grossly overstate ({used} B)"
