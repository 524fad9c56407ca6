"""Prometheus metrics of the cache, on a registry the caller passes in (no global state).

Labels are bounded: `kind` (exact|semantic), `tier` (the router's tiers, already validated; an
unknown value is folded into 'other' past `max_tiers`), `result`, `reason`, `op`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from runtime.labelled import Labelled

PriceFn = Callable[[str, int, int], Decimal | None]
"""(tier, prompt_tokens, completion_tokens) -> USD the tier would have charged, or None if unknown."""

LATENCY_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5)


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, max_tiers: int = 32) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._tiers: set[str] = set()
        self._max_tiers = max_tiers
        self.lookups = Labelled(Counter(
            "frugal_cache_lookups", "Cache lookups by kind, tier and result (hit|miss|bypass).",
            ["kind", "tier", "result"], registry=r,
        ))  # fmt: skip
        self.tokens_saved = Labelled(Counter(
            "frugal_cache_tokens_saved", "Tokens not generated upstream thanks to hits.", ["kind", "tier", "direction"],
            registry=r,
        ))  # fmt: skip
        self.usd_saved = Labelled(Counter(
            "frugal_cache_usd_saved", "USD the tier would have charged for the answers served from cache.",
            ["kind", "tier"], registry=r,
        ))  # fmt: skip
        self.unpriced_hits = Counter(
            "frugal_cache_unpriced_hits", "Hits whose tier had no known price (not in usd_saved).", ["tier"], registry=r
        )
        self.latency = Labelled(Histogram(
            "frugal_cache_lookup_seconds", "Lookup latency by kind (semantic includes embedding).", ["kind"],
            buckets=LATENCY_BUCKETS, registry=r,
        ))  # fmt: skip
        self.evictions = Labelled(
            Counter(
                "frugal_cache_evictions", "Entries dropped, by reason (budget|ttl|invalidate).", ["reason"], registry=r
            )
        )
        self.stores = Labelled(
            Counter(
                "frugal_cache_stores", "Answers stored, or skipped with the reason.", ["kind", "result"], registry=r
            )
        )
        self.rejections = Labelled(Counter(
            "frugal_cache_semantic_rejections", "Semantic candidates rejected by verification, by reason.",
            ["reason"], registry=r,
        ))  # fmt: skip
        self.entries = Labelled(Gauge("frugal_cache_entries", "Entries held locally, by kind.", ["kind"], registry=r))
        self.bytes = Gauge("frugal_cache_bytes", "Bytes held locally (accounted size).", registry=r)
        self.budget = Gauge("frugal_cache_budget_bytes", "The local byte budget.", registry=r)
        self.redis_errors = Counter(
            "frugal_cache_redis_errors", "Redis operations that failed or timed out (served anyway).", ["op"],
            registry=r,
        )  # fmt: skip
        self.redis_up = Gauge("frugal_cache_redis_up", "1 if the last Redis operation succeeded.", registry=r)
        self.replicated = Counter(
            "frugal_cache_replicated_entries", "Semantic entries added from other replicas' stream.", registry=r
        )

    def tier(self, tier: str) -> str:
        if tier in self._tiers:
            return tier
        if len(self._tiers) >= self._max_tiers:
            return "other"
        self._tiers.add(tier)
        return tier
