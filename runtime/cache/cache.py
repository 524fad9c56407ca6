"""FrugalCache: the exact and semantic response cache behind the router's ResponseCache protocol.

Lookup order: request and tenant controls -> exact key in memory -> exact key in Redis (if
configured) -> semantic (tenant opted in, latest turn is user text): embed, candidates in the
(tenant, model) index restricted to the conversation scope, verification, decision. Nothing in
here raises to the router for a cache-side failure: a broken embedder, Redis or snapshot turns
into a miss and a metric.

The facade: it owns the request policy (what may be read or stored), the embedding of the latest
user turn and the lifecycle, and composes the local tier (local.py), snapshots (persist.py) and
the Redis tier (shared.py, imported only when Redis is configured). None of those imports this.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from runtime.cache import keys, persist
from runtime.cache.contrast import default_judge
from runtime.cache.embedder import MicroBatcher, OnnxEmbedder
from runtime.cache.local import LocalTier
from runtime.cache.metrics import CacheMetrics, PriceFn
from runtime.cache.protocol import CachedResponse, CacheRequest
from runtime.cache.scorer import Scorer
from runtime.cache.settings import CacheSettings
from runtime.cache.store import Entry

if TYPE_CHECKING:
    from runtime.cache.shared import SharedTier

log = logging.getLogger(__name__)

RECENT_VECTORS = 1024
"""Vectors computed at lookup, kept until the same request's answer is stored (a miss is usually
followed by a store of the same request, so the embedding is not computed twice)."""


def _usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count where it differs)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


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
        self.replica_id = settings.replica_id or uuid.uuid4().hex[:12]
        self.local = LocalTier(settings, self.metrics, scorer=scorer, clock=clock)
        self.shared: SharedTier | None = None
        """The Redis tier, once start() has joined it (only when redis_url is set)."""
        self._recent_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._snapshot_task: asyncio.Task[None] | None = None

    # -- the protocol ---------------------------------------------------------------------------

    async def lookup(self, request: CacheRequest) -> CachedResponse | None:
        started = time.perf_counter()
        tier_label = self.metrics.tier(request.model)
        if not self._readable(request):
            self.metrics.lookups.labels("exact", tier_label, "bypass").inc()
            return None
        key = keys.exact_key(request)
        now = self._clock()
        entry = self.local.get(key, now)
        if entry is None and self.shared is not None:
            entry = await self.shared.get_exact(request.tenant, request.model, key)
            if entry is not None:
                self.local.insert(entry, now)
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
        match = self.local.find(request, text, vector, now)
        self.metrics.latency.labels("semantic").observe(time.perf_counter() - started)
        if match is None:
            self.metrics.lookups.labels("semantic", tier_label, "miss").inc()
            return None
        self.local.touch(match.entry)
        return self._hit(match.entry, "semantic", match.similarity)

    async def store(self, request: CacheRequest, body: dict[str, Any], tier: str) -> None:
        reason = self._unstorable(request, body)
        if reason is not None:
            self.metrics.stores.labels("exact", reason).inc()
            return
        blob = orjson.dumps(body)
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
        kept = self.local.insert(entry, now)
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

            self.shared = SharedTier(self.local, self.settings.redis_url, self.replica_id)
            await self.shared.join()
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
        removed = self.local.invalidate(tenant, model)
        if self.shared is not None:
            await self.shared.invalidate(tenant, model)
        return removed

    def stats(self) -> dict[str, object]:
        return {
            **self.local.stats(),
            "replica_id": self.replica_id,
            "redis": None if self.shared is None else self.shared.status(),
        }

    def insert(self, entry: Entry) -> bool:
        """Add an entry made elsewhere (a benchmark's or test's fill): it gets a fresh label here."""
        return self.local.insert(entry)

    # -- internals ------------------------------------------------------------------------------

    def _hit(self, entry: Entry, kind: Literal["exact", "semantic"], similarity: float | None) -> CachedResponse:
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
            kind=kind,
            body=orjson.loads(entry.body),
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
                # The verification's word tables (~0.3 s) load here, off the event loop, not on the
                # first lookup that reaches verification.
                await asyncio.to_thread(default_judge)
            self._batcher = MicroBatcher(
                self._embedder,
                max_batch=self.settings.embed_max_batch,
                max_in_flight=self.settings.embed_max_in_flight or _usable_cores(),
                group=self.settings.embed_group,
                max_wait_s=self.settings.embed_max_wait_ms / 1000.0,
            )
        return await self._batcher.embed_one(text)

    def _remember_vector(self, key: str, vector: np.ndarray) -> None:
        self._recent_vectors[key] = vector
        while len(self._recent_vectors) > RECENT_VECTORS:
            self._recent_vectors.popitem(last=False)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for background Redis writes (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def save_snapshot(self) -> None:
        if self.settings.snapshot_dir is not None:
            stream_id = None if self.shared is None else self.shared.last_id
            persist.save_snapshot(
                self.local, self.settings.snapshot_dir, replica_id=self.replica_id, stream_id=stream_id
            )

    def load_snapshot(self) -> int:
        if self.settings.snapshot_dir is None or not os.path.isdir(self.settings.snapshot_dir):
            return 0
        return persist.load_snapshot(self.local, self.settings.snapshot_dir)
