"""Prometheus metrics on a registry owned by the app (no module-level collectors).

Label values are bounded by construction: `tier` is a configured tier name or `none` (rejected
before routing) or `cache`; `status` is the HTTP status code the client got; `kind` is `prompt` or
`completion`; `tenant` appears only on the opt-in budget gauge (metrics.budget_by_tenant) and only
with configured tenant names. Dashboard: runtime/grafana-dashboard.json.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runtime.labelled import Labelled

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
NO_TIER = "none"
CACHE_TIER = "cache"


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, tiers: list[str], budget_by_tenant: bool = False) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.tiers = frozenset(tiers)
        self.requests = Labelled(
            Counter(
                "frugal_requests",
                "Chat/embedding requests by the tier that answered and HTTP status",
                ["tier", "status"],
                registry=r,
            )
        )
        self.tokens = Counter(
            "frugal_tokens", "Tokens by tier and kind (prompt, completion)", ["tier", "kind"], registry=r
        )
        self.cost = Counter("frugal_cost_usd", "Cost in USD charged to tenants, by tier", ["tier"], registry=r)
        self.latency = Histogram(
            "frugal_request_duration_seconds",
            "Time from request to last byte",
            ["tier"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "frugal_time_to_first_token_seconds",
            "Streams: time to the first content chunk",
            ["tier"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "frugal_fallbacks", "Requests moved to another tier after a failure", ["from_tier"], registry=r
        )
        self.circuit = Gauge(
            "frugal_circuit_state", "Circuit breaker: 0 closed, 1 open, 2 half-open", ["tier"], registry=r
        )
        self.ready = Gauge("frugal_tier_ready", "1 when the tier's server answers /health", ["tier"], registry=r)
        self.in_flight = Gauge("frugal_tier_in_flight", "Requests in flight per tier", ["tier"], registry=r)
        self.slots = Gauge(
            "frugal_tier_slots", "Slots the tier serves in parallel (/props total_slots)", ["tier"], registry=r
        )
        self.cache_hits = Counter("frugal_cache_hits", "Answers served from the response cache", ["kind"], registry=r)
        self.restarts = Counter(
            "frugal_llama_server_restarts", "Supervised llama-server restarts", ["tier"], registry=r
        )
        self.overruns = Counter(
            "frugal_upstream_overruns",
            "Answers whose upstream generated or billed past the reserved bound (charged the reservation)",
            ["tier"],
            registry=r,
        )
        self.ledger_errors = Counter(
            "frugal_budget_ledger_errors",
            "Budget ledger calls that failed or timed out (reserve, settle, spend, replay)",
            ["op"],
            registry=r,
        )
        self.settlements_pending = Gauge(
            "frugal_budget_settlements_pending",
            "Settlements journalled locally because the ledger did not take them; replayed until it does",
            registry=r,
        )
        self.budget_remaining = (
            Gauge("frugal_budget_remaining_usd", "Budget left by tenant and period", ["tenant", "period"], registry=r)
            if budget_by_tenant
            else None
        )
        # Pre-bind the children the hot path touches: labels() costs a lock and a dict lookup.
        self._lat = {t: self.latency.labels(t) for t in tiers}
        self._cost = {t: self.cost.labels(t) for t in tiers}
        self._prompt = {t: self.tokens.labels(t, "prompt") for t in tiers}
        self._completion = {t: self.tokens.labels(t, "completion") for t in tiers}
        for t in tiers:
            self.circuit.labels(t).set(0)
            self.ready.labels(t).set(0)
            self.fallbacks.labels(t)
            self.overruns.labels(t)

    def tier_label(self, tier: str | None) -> str:
        return tier if tier in self.tiers else NO_TIER

    def observe(self, tier: str, status: int, seconds: float, prompt: int, completion: int, cost: float) -> None:
        self.requests.labels(tier, str(status)).inc()
        lat = self._lat.get(tier)
        if lat is None:
            return
        lat.observe(seconds)
        if prompt:
            self._prompt[tier].inc(prompt)
        if completion:
            self._completion[tier].inc(completion)
        if cost:
            self._cost[tier].inc(cost)

    def render(self) -> bytes:
        return generate_latest(self.registry)
