"""FrugalCache: the exact and semantic response cache behind the router's ResponseCache protocol.

Lookup order: request and tenant controls -> exact key in memory -> exact key in Redis (if
configured) -> semantic (tenant opted in, latest turn is user text): embed, candidates in the
(tenant, model) index restricted to the conversation scope, verification, decision. Nothing in
here raises to the router for a cache-side failure: a broken embedder, Redis or snapshot turns
into a miss and a metric.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.cache import keys
from runtime.cache.embedder import MicroBatcher, OnnxEmbedder
from runtime.cache.index import SemanticIndex
from runtime.cache.metrics import CacheMetrics, PriceFn
from runtime.cache.protocol import CachedResponse, CacheRequest
from runtime.cache.scorer import Scorer, rejection
from runtime.cache.settings import CacheSettings, SemanticPolicy
from runtime.cache.store import Entry, EntryStore, EvictReason

log = logging.getLogger("frugal.cache")


@dataclass(frozen=True)
class SemanticMatch:
    entry: Entry
    similarity: float


class FrugalCache:
    def __init__(
        self,
        settings: CacheSettings,
        *,
        metrics: CacheMetrics | None = None,
        price: PriceFn | None = None,
        embedder: OnnxEmbedder | None = None,
        scorer: Scorer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or CacheMetrics()
        self._price = price
        self._clock = clock
        self._embedder = embedder
        self._batcher: MicroBatcher | None = None
        self._scorer = scorer
        self.replica_id = settings.replica_id or uuid.uuid4().hex[:12]
        self._store = EntryStore(settings.max_bytes, on_evict=self._evicted)
        self._index = SemanticIndex(dtype=settings.index_dtype)
        self._by_label: dict[int, Entry] = {}
        self._scopes: dict[str, set[int]] = {}
        self._next_label = 1
        # vectors computed at lookup, reused when the same request's answer is stored
        self._recent_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.shared: Any = None  # runtime.cache.shared.SharedTier when Redis is configured
        self._snapshot_task: asyncio.Task[None] | None = None
        self.metrics.budget.set(settings.max_bytes)

    # -- the protocol ---------------------------------------------------------------------------

    async def lookup(self, request: CacheRequest) -> CachedResponse | None:
        started = time.perf_counter()
        tier_label = self.metrics.tier(request.model)
        if not self._readable(request):
            self.metrics.lookups.labels("exact", tier_label, "bypass").inc()
            return None
        key = keys.exact_key(request)
        now = self._clock()
        entry = self._store.get(key, now)
        if entry is None and self.shared is not None:
            entry = await self.shared.get_exact(request.tenant, request.model, key)
            if entry is not None:
                self._insert(entry, now)
        self.metrics.latency.labels("exact").observe(time.perf_counter() - started)
        if entry is not None:
            return self._hit(entry, "exact", None)
        self.metrics.lookups.labels("exact", tier_label, "miss").inc()
        if not self._semantic_allowed(request):
            return None
        text = keys.latest_user_text(request.messages)
        if text is None:
            return None
        started = time.perf_counter()
        try:
            vector = await self._embed(text)
        except Exception:  # the cache failing must never fail the request
            log.exception("embedding failed; semantic lookup skipped")
            self.metrics.lookups.labels("semantic", tier_label, "error").inc()
            return None
        self._remember_vector(key, vector)
        match = self.find_semantic(request, text, vector, now)
        self.metrics.latency.labels("semantic").observe(time.perf_counter() - started)
        if match is None:
            self.metrics.lookups.labels("semantic", tier_label, "miss").inc()
            return None
        self._store.touch(match.entry)
        return self._hit(match.entry, "semantic", match.similarity)

    async def store(self, request: CacheRequest, body: dict[str, Any], tier: str) -> None:
        reason = self._unstorable(request, body)
        if reason is not None:
            self.metrics.stores.labels("exact", reason).inc()
            return
        blob = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        if len(blob) > self.settings.max_body_bytes:
            self.metrics.stores.labels("exact", "too_large").inc()
            return
        usage = body.get("usage") or {}
        now = self._clock()
        key = keys.exact_key(request)
        entry = Entry(
            key=key, tenant=request.tenant, model=request.model, tier=tier, body=blob,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            created_at=now, expires_at=now + self.settings.ttl_seconds,
        )  # fmt: skip
        text = keys.latest_user_text(request.messages) if self._semantic_allowed(request) else None
        if text is not None:
            vector = self._recent_vectors.pop(key, None)
            try:
                vector = vector if vector is not None else await self._embed(text)
            except Exception:
                log.exception("embedding failed; stored for exact matching only")
            else:
                entry = Entry(
                    key=key, tenant=entry.tenant, model=entry.model, tier=tier, body=blob,
                    prompt_tokens=entry.prompt_tokens, completion_tokens=entry.completion_tokens,
                    created_at=now, expires_at=entry.expires_at,
                    scope=keys.semantic_scope(request), text=text, vector=vector,
                )  # fmt: skip
        kept = self._insert(entry, now)
        self.metrics.stores.labels(
            "semantic" if entry.vector is not None else "exact", "stored" if kept else "over_budget"
        ).inc()
        if self.shared is not None:
            self._background(self.shared.publish(entry))

    async def start(self) -> None:
        """Restore the snapshot, join Redis (catching up on the stream), start periodic snapshots.

        Never raises for a cache-side problem: a bad snapshot or an unreachable Redis is logged,
        counted, and the cache serves what it has.
        """
        self.load_snapshot()
        if self.settings.redis_url and self.shared is None:
            from runtime.cache.shared import SharedTier

            self.shared = SharedTier(self, self.settings.redis_url)
            try:
                deadline = time.monotonic() + 10.0
                while await asyncio.wait_for(self.shared.catch_up(), 2.0) and time.monotonic() < deadline:
                    pass
            except Exception as exc:  # Redis down at start: serve locally, the consumer retries
                self.shared._failed("catch_up", exc)
            self.shared.start()
        if self.settings.snapshot_dir is not None:
            self._snapshot_task = asyncio.get_running_loop().create_task(self._snapshot_loop())

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_interval_seconds)
            try:
                self.save_snapshot()
            except OSError:
                log.exception("cache snapshot failed; will retry")

    async def close(self) -> None:
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
            self._snapshot_task = None
        await self.flush()
        if self.shared is not None:
            await self.shared.stop()
        if self.settings.snapshot_dir is not None:
            try:
                self.save_snapshot()
            except OSError:
                log.exception("cache snapshot at shutdown failed")

    # -- admin ----------------------------------------------------------------------------------

    async def invalidate(self, tenant: str | None = None, model: str | None = None) -> int:
        """Drop every entry of a tenant and/or model here, in Redis and on the other replicas."""
        if tenant is None and model is None:
            raise ValueError("invalidate needs a tenant, a model or both; fix: pass tenant= and/or model=")
        removed = self.invalidate_local(tenant, model)
        if self.shared is not None:
            await self.shared.invalidate(tenant, model)
        return removed

    def invalidate_local(self, tenant: str | None, model: str | None) -> int:
        return self._store.remove_where(
            lambda e: (tenant is None or e.tenant == tenant) and (model is None or e.model == model)
        )

    def stats(self) -> dict[str, Any]:
        return {
            "entries": len(self._store),
            "semantic_entries": len(self._by_label),
            "bytes": self._store.bytes,
            "budget_bytes": self._store.budget_bytes,
            "partitions": len(self._index.partitions()),
            "replica_id": self.replica_id,
            "redis": None if self.shared is None else self.shared.status(),
        }

    # -- internals shared with persistence and replication ----------------------------------------

    def entries(self) -> list[Entry]:
        return list(self._store)

    def insert(self, entry: Entry) -> bool:
        """Add an entry from elsewhere (another replica): it gets a fresh label in this process."""
        return self._insert(entry, self._clock())

    def restore_entries(self, entries: list[Entry]) -> int:
        """Add a snapshot's entries, keeping their labels (so a saved index file still matches)."""
        now = self._clock()
        return sum(1 for entry in entries if self._insert(entry, now, keep_label=True, index=False))

    def semantic_partitions(self) -> dict[tuple[str, str], list[Entry]]:
        partitions: dict[tuple[str, str], list[Entry]] = {}
        for entry in self._by_label.values():
            partitions.setdefault((entry.tenant, entry.model), []).append(entry)
        return partitions

    def _insert(self, entry: Entry, now: float, *, keep_label: bool = False, index: bool = True) -> bool:
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
                live = [e for e in self._by_label.values() if (e.tenant, e.model) == partition]
                self._index.rebuild(
                    partition,
                    np.array([e.label for e in live], dtype=np.uint64),
                    np.stack([e.vector for e in live]) if live else np.zeros((0, 384), np.float32),
                )
        self._update_gauges()

    def _update_gauges(self) -> None:
        self.metrics.entries.labels("semantic").set(len(self._by_label))
        self.metrics.entries.labels("exact").set(len(self._store) - len(self._by_label))
        self.metrics.bytes.set(self._store.bytes)

    def find_semantic(self, request: CacheRequest, text: str, vector: np.ndarray, now: float) -> SemanticMatch | None:
        policy = self.settings.policy(request.tenant, request.similarity_threshold)
        labels = self._scopes.get(keys.semantic_scope(request))
        if not labels:
            return None
        if len(labels) <= 256:
            # a small scope (a conversation's follow-ups, a tenant's first turns early on): exact scan
            ordered = list(labels)
            sims = np.stack([self._by_label[label].vector for label in ordered]) @ vector
            order = np.argsort(-sims)
            candidates = [(ordered[i], float(sims[i])) for i in order if sims[i] >= policy.threshold][:16]
        else:
            # ask for candidates a little below the threshold: with a quantised index (f16/i8) the
            # index's cosine is approximate; the exact cosine from the stored float32 vector decides
            found = self._index.search(
                (request.tenant, request.model), vector, min_similarity=policy.threshold - 0.02, accept=labels
            )
            exact = [
                (c.label, float(self._by_label[c.label].vector @ vector)) for c in found if c.label in self._by_label
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

    def _hit(self, entry: Entry, kind: str, similarity: float | None) -> CachedResponse:
        tier_label = self.metrics.tier(entry.tier)
        self.metrics.lookups.labels(kind, tier_label, "hit").inc()
        self.metrics.tokens_saved.labels(kind, tier_label, "prompt").inc(entry.prompt_tokens)
        self.metrics.tokens_saved.labels(kind, tier_label, "completion").inc(entry.completion_tokens)
        if self._price is not None:
            usd = self._price(entry.tier, entry.prompt_tokens, entry.completion_tokens)
            if usd is None:
                self.metrics.unpriced_hits.labels(tier_label).inc()
            else:
                self.metrics.usd_saved.labels(kind, tier_label).inc(float(usd))
        return CachedResponse(
            kind=kind,  # type: ignore[arg-type]
            body=json.loads(entry.body),
            tier=entry.tier,
            prompt_tokens=entry.prompt_tokens,
            completion_tokens=entry.completion_tokens,
            similarity=similarity,
        )

    def _readable(self, request: CacheRequest) -> bool:
        return (
            self.settings.enabled
            and not request.no_store
            and not request.no_cache
            and request.tenant not in self.settings.disabled_tenants
            and (not self.settings.deterministic_only or keys.is_deterministic(request.params))
        )

    def _unstorable(self, request: CacheRequest, body: dict[str, Any]) -> str | None:
        if not self.settings.enabled or request.no_store or request.tenant in self.settings.disabled_tenants:
            return "opted_out"
        if self.settings.deterministic_only and not keys.is_deterministic(request.params):
            return "nondeterministic"
        choices = body.get("choices") if isinstance(body, dict) else None
        if not choices or body.get("error") or any(c.get("finish_reason") is None for c in choices):
            return "incomplete"
        return None

    def _semantic_allowed(self, request: CacheRequest) -> bool:
        return self.settings.semantic_enabled and request.semantic_enabled

    async def _embed(self, text: str) -> np.ndarray:
        if self._batcher is None:
            if self._embedder is None:
                self._embedder = await asyncio.to_thread(OnnxEmbedder)
            self._batcher = MicroBatcher(
                self._embedder,
                max_batch=self.settings.embed_max_batch,
                max_wait_s=self.settings.embed_max_wait_ms / 1000.0,
            )
        return await self._batcher.embed_one(text)

    def _remember_vector(self, key: str, vector: np.ndarray) -> None:
        self._recent_vectors[key] = vector
        while len(self._recent_vectors) > 1024:
            self._recent_vectors.popitem(last=False)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for background Redis writes (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def save_snapshot(self) -> None:
        from runtime.cache.persist import save_snapshot

        if self.settings.snapshot_dir is not None:
            save_snapshot(self, self.settings.snapshot_dir)

    def load_snapshot(self) -> int:
        from runtime.cache.persist import load_snapshot

        if self.settings.snapshot_dir is None or not os.path.isdir(self.settings.snapshot_dir):
            return 0
        return load_snapshot(self, self.settings.snapshot_dir)
