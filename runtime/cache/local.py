"""The local tier: the entry store, the HNSW index, the label maps and the semantic lookup.

Everything the cache holds in this process. It imports no other tier: snapshots (persist.py), the
Redis tier (shared.py) and the facade (cache.py) build on it through the public methods below.
Not thread-safe: used from the event loop only, like the store it wraps.

A semantic entry has a label (its key in its partition's index) that is unique in this process;
`_by_label` finds the entry of an index hit, `_scopes` the labels of a conversation scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from runtime.cache import keys
from runtime.cache.embedder import DIM
from runtime.cache.index import Partition, SemanticIndex
from runtime.cache.metrics import CacheMetrics
from runtime.cache.protocol import CacheRequest
from runtime.cache.scorer import Scorer, rejection
from runtime.cache.settings import CacheSettings, SemanticPolicy
from runtime.cache.store import Entry, EntryStore, EvictReason

if TYPE_CHECKING:
    from usearch.index import Index

EXACT_SCAN_MAX = 256
"""Scopes up to this many entries are scanned exactly (a conversation's follow-ups, a tenant's first
turns early on); larger ones go through the index."""
MAX_CANDIDATES = 16


@dataclass(frozen=True)
class SemanticMatch:
    entry: Entry
    similarity: float


class LocalTier:
    def __init__(
        self,
        settings: CacheSettings,
        metrics: CacheMetrics,
        *,
        scorer: Scorer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self._scorer = scorer
        self._store = EntryStore(settings.max_bytes, on_evict=self._evicted)
        self._index = SemanticIndex(dtype=settings.index_dtype)
        self._by_label: dict[int, Entry] = {}
        self._scopes: dict[str, set[int]] = {}
        self._next_label = 1
        self.get: Callable[[str, float], Entry | None] = self._store.get
        """(key, now) -> the live entry under an exact key (an expired one is dropped), marked recently
        used. The store's own method, not a wrapper: every request's exact lookup goes through it."""
        metrics.budget.set(settings.max_bytes)

    # -- reading --------------------------------------------------------------------------------

    def touch(self, entry: Entry) -> None:
        self._store.touch(entry)

    def find(self, request: CacheRequest, text: str, vector: np.ndarray, now: float) -> SemanticMatch | None:
        """The best entry in the request's scope that passes the tenant's policy, or None."""
        policy = self.settings.policy(request.tenant, request.similarity_threshold)
        labels = self._scopes.get(keys.semantic_scope(request))
        if not labels:
            return None
        if len(labels) <= EXACT_SCAN_MAX:
            ordered = list(labels)
            sims = np.stack([_vector(self._by_label[label]) for label in ordered]) @ vector
            order = np.argsort(-sims)
            candidates = [(ordered[i], float(sims[i])) for i in order if sims[i] >= policy.threshold][:MAX_CANDIDATES]
        else:
            # ask for candidates a little below the threshold: with a quantised index (f16/i8) the
            # index's cosine is approximate; the exact cosine from the stored float32 vector decides
            found = self._index.search(
                (request.tenant, request.model), vector, min_similarity=policy.threshold - 0.02, accept=labels
            )
            exact = [
                (c.label, float(_vector(self._by_label[c.label]) @ vector)) for c in found if c.label in self._by_label
            ]
            candidates = sorted(((label, sim) for label, sim in exact if sim >= policy.threshold), key=lambda c: -c[1])
        for label, similarity in candidates:
            entry = self._by_label.get(label)
            if entry is None or entry.expires_at <= now:
                continue
            reason = self.rejection(policy, text, entry.text or "", similarity)
            if reason is None:
                return SemanticMatch(entry, similarity)
            self.metrics.rejections.labels(reason).inc()
        return None

    def rejection(self, policy: SemanticPolicy, query: str, cached: str, similarity: float) -> str | None:
        return rejection(policy, query, cached, similarity, self._scorer)

    # -- writing --------------------------------------------------------------------------------

    def insert(self, entry: Entry, now: float | None = None, *, keep_label: bool = False, index: bool = True) -> bool:
        """Add (or replace) an entry; False if it has expired or alone exceeds the budget.

        A semantic entry gets a fresh label unless `keep_label` (a snapshot's entries keep theirs so
        a saved index file still matches); `index=False` leaves the index to the caller (a restore
        loads or rebuilds whole partitions at once).
        """
        now = self.clock() if now is None else now
        if entry.expires_at <= now:
            return False
        if entry.vector is not None:
            if not keep_label or entry.label < 0 or entry.label in self._by_label:
                entry.label = self._next_label
            self._next_label = max(self._next_label, entry.label + 1)
        kept = self._store.put(entry, now)
        if kept and entry.vector is not None:
            if index:
                self._index.add((entry.tenant, entry.model), entry.label, entry.vector)
            self._by_label[entry.label] = entry
            self._scopes.setdefault(entry.scope or "", set()).add(entry.label)
        self._update_gauges()
        return kept

    def restore(self, entries: Iterable[Entry]) -> int:
        """Add a snapshot's entries with their labels, without indexing them; returns how many were kept."""
        now = self.clock()
        return sum(1 for entry in entries if self.insert(entry, now, keep_label=True, index=False))

    def invalidate(self, tenant: str | None, model: str | None) -> int:
        return self._store.remove_where(
            lambda e: (tenant is None or e.tenant == tenant) and (model is None or e.model == model)
        )

    # -- the index, for persistence ----------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every entry, least recently used first (restoring in this order keeps the LRU order)."""
        return list(self._store)

    def semantic_partitions(self) -> dict[Partition, list[Entry]]:
        partitions: dict[Partition, list[Entry]] = {}
        for entry in self._by_label.values():
            partitions.setdefault((entry.tenant, entry.model), []).append(entry)
        return partitions

    def indexes(self) -> list[tuple[Partition, Index]]:
        found = ((partition, self._index.get(partition)) for partition in self._index.partitions())
        return [(partition, index) for partition, index in found if index is not None]

    def put_index(self, partition: Partition, index: Index) -> None:
        """Use a loaded index for a partition (its labels must be the partition's entries' labels)."""
        self._index.put_index(partition, index)

    def rebuild_index(self, partition: Partition, members: list[Entry]) -> None:
        labels = np.array([e.label for e in members], dtype=np.uint64)
        vectors = np.stack([_vector(e) for e in members]) if members else np.zeros((0, DIM), np.float32)
        self._index.rebuild(partition, labels, vectors)

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._store),
            "semantic_entries": len(self._by_label),
            "bytes": self._store.bytes,
            "budget_bytes": self._store.budget_bytes,
            "partitions": len(self._index.partitions()),
        }

    # -- bookkeeping ----------------------------------------------------------------------------

    def _evicted(self, entry: Entry, reason: EvictReason) -> None:
        if reason != "replaced":
            self.metrics.evictions.labels(reason).inc()
        if entry.label >= 0 and self._by_label.get(entry.label) is entry:
            del self._by_label[entry.label]
            scope = self._scopes.get(entry.scope or "")
            if scope is not None:
                scope.discard(entry.label)
                if not scope:
                    del self._scopes[entry.scope or ""]
            partition = (entry.tenant, entry.model)
            self._index.remove(partition, entry.label)
            if self._index.needs_compaction(partition):
                self.rebuild_index(partition, [e for e in self._by_label.values() if (e.tenant, e.model) == partition])
        self._update_gauges()

    def _update_gauges(self) -> None:
        self.metrics.entries.labels("semantic").set(len(self._by_label))
        self.metrics.entries.labels("exact").set(len(self._store) - len(self._by_label))
        self.metrics.bytes.set(self._store.bytes)


def _vector(entry: Entry) -> np.ndarray:
    if entry.vector is None:  # only entries with a vector get a label, so this means a broken invariant
        raise ValueError(f"semantic entry {entry.key} has no vector")
    return entry.vector
