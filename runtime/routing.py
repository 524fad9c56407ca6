"""Which tier serves a request: a tier by name, an alias, or one `auto` decision; plus circuit breakers.

`auto` weighs four inputs at once (docs/runtime.md, "Routing"):
1. complexity: the cheapest tier whose `max_complexity` covers the conversation's score;
2. the request's limits: `max_cost_usd` (the tier's worst-case cost of this request must fit) and
   `latency_target_ms` (the tier's expected latency must fit);
3. the tenant's remaining budget (the worst-case cost must fit, else a cheaper tier is chosen; if
   none fits, the cheapest goes first and the budget store's reservation refuses it);
4. live load: a tier whose in-flight requests fill its slots (`/props` total_slots) is passed over
   for the next suitable one while any has a free slot.
If no tier covers the score within the cost limits, the most capable tier that fits them is chosen
("degraded"). The chain after the first tier is the fallback order: other suitable tiers, stronger
ones first, then cheaper ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from runtime.accounting import Bound, TierPrice
from runtime.auth import TenantInfo
from runtime.errors import InvalidRequest, Overloaded, PermissionDenied, UnknownModel
from runtime.settings import Settings, Tier

CLOSED, OPEN, HALF_OPEN = 0, 1, 2


@dataclass
class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `cooldown_s` lets one trial call through."""

    failures: int = 3
    cooldown_s: float = 5.0
    consecutive: int = 0
    opened_at: float = 0.0
    state: int = CLOSED
    trial_in_flight: bool = False
    clock: Callable[[], float] = time.monotonic

    def allows(self, now: float | None = None) -> bool:
        if self.state == CLOSED:
            return True
        now = self.clock() if now is None else now
        if self.state == OPEN and now - self.opened_at >= self.cooldown_s:
            self.state = HALF_OPEN
            self.trial_in_flight = False
        return self.state == HALF_OPEN and not self.trial_in_flight

    def on_attempt(self) -> None:
        if self.state == HALF_OPEN:
            self.trial_in_flight = True

    def on_success(self) -> None:
        self.consecutive = 0
        self.state = CLOSED
        self.trial_in_flight = False

    def on_failure(self, now: float | None = None) -> None:
        self.consecutive += 1
        self.trial_in_flight = False
        if self.state == HALF_OPEN or self.consecutive >= self.failures:
            self.state = OPEN
            self.opened_at = self.clock() if now is None else now


@dataclass
class TierState:
    """A tier's live state: where it is, whether it is up, how busy it is."""

    cfg: Tier
    price: TierPrice
    breaker: CircuitBreaker
    base_url: str = ""
    api_key: str | None = None
    ready: bool = False
    slots: int = 1
    in_flight: int = 0
    upstream_model: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)
    input_modalities: frozenset[str] | None = None
    """What the model accepts ("text", "image", "audio"): config, else a local server's /props;
    None = unknown (the tier judges; its refusal is the client's error, runtime/upstream.py)."""

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def serves_embeddings(self) -> bool:
        return self.cfg.local.embeddings if self.cfg.local else self.cfg.embeddings

    @property
    def serves_chat(self) -> bool:
        """An embeddings tier serves embeddings only (llama-server's `--embeddings` is meant for
        embedding models), so it is never in a chat chain."""
        return not self.serves_embeddings

    def accepts(self, media: frozenset[str]) -> bool:
        return self.input_modalities is None or media <= self.input_modalities

    def available(self) -> bool:
        return self.ready and self.breaker.allows()


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one request asks of `auto` (the `frugal` body extension or x-frugal-* headers)."""

    max_cost_usd: Decimal | None = None
    latency_target_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    chain: list[TierState]
    reason: str
    score: float | None = None


class Router:
    def __init__(self, settings: Settings, tiers: dict[str, TierState], max_queue_per_slot: int = 4) -> None:
        self.tiers = tiers
        self.aliases = settings.aliases
        self.default_model = settings.routing.default_model
        self.max_queue_per_slot = max_queue_per_slot
        # Cheapest first: completion tokens dominate chat cost, prompt price breaks ties.
        chat = [t for t in tiers.values() if t.serves_chat]
        self.by_price = sorted(chat, key=lambda t: (t.price.completion_per_1k, t.price.prompt_per_1k, t.name))

    def resolve(self, model: str | None) -> str:
        """A tier name or 'auto' for a requested model, or UnknownModel (404)."""
        m = model or self.default_model
        m = self.aliases.get(m, m)
        if m == "auto" or m in self.tiers:
            return m
        raise UnknownModel(
            f"model {model!r} is not a tier, an alias or 'auto'; available: {self.model_names()}", param="model"
        )

    def model_names(self) -> list[str]:
        return ["auto", *self.tiers, *self.aliases]

    def _allowed(self, tenant: TenantInfo, tiers: list[TierState]) -> list[TierState]:
        return [t for t in tiers if tenant.allowed_tiers is None or t.name in tenant.allowed_tiers]

    def _queue_full(self, t: TierState) -> bool:
        return t.in_flight >= t.slots * self.max_queue_per_slot

    def decide(
        self,
        target: str,
        tenant: TenantInfo,
        *,
        bound: Bound,
        score: float | None,
        limits: RequestLimits,
        remaining_usd: Decimal | None,
        media: frozenset[str] = frozenset(),
    ) -> Decision:
        """The chain of tiers to try for a chat request; `bound` is its worst case (the requested
        max_tokens, or the largest tier default), priced per tier. `media` are the request's
        non-text inputs: a tier that cannot take them is left out (400 if that leaves none), so a
        request no tier can read never reaches, nor counts against, any tier."""
        if target != "auto":
            tier = self.tiers[target]
            if tenant.allowed_tiers is not None and target not in tenant.allowed_tiers:
                raise PermissionDenied(f"tenant {tenant.name!r} may not use tier {target!r}", param="model")
            if not tier.serves_chat:
                raise InvalidRequest(
                    f"tier {target!r} serves embeddings only; send it to /v1/embeddings, or name a chat model",
                    param="model",
                )
            _check_media(tier, media)
            fallbacks = [self.tiers[f] for f in tier.cfg.fallbacks]
            chain = [tier, *self._allowed(tenant, [f for f in fallbacks if f.serves_chat and f.accepts(media)])]
            return Decision(chain, "named")
        assert score is not None, "auto routing needs a complexity score"
        candidates = self._allowed(tenant, self.by_price)
        if not candidates:
            raise PermissionDenied(f"tenant {tenant.name!r} may use no chat tier", param="model")
        readers = [t for t in candidates if t.accepts(media)]
        if not readers:
            kinds = "; ".join(f"{t.name}: {', '.join(sorted(t.input_modalities or ()))}" for t in candidates)
            raise InvalidRequest(
                f"no tier accepts {', '.join(sorted(media))} input ({kinds}); remove those content parts",
                param="messages",
                code="unsupported_input",
            )
        candidates = readers

        def cost(t: TierState) -> Decimal:
            return bound.worst_case(t.price)

        affordable = candidates
        if limits.max_cost_usd is not None:
            affordable = [t for t in affordable if cost(t) <= limits.max_cost_usd]
            if not affordable:
                cheapest = min(candidates, key=cost)
                raise InvalidRequest(
                    f"no tier can answer within max_cost_usd={limits.max_cost_usd}: the cheapest, "
                    f"{cheapest.name!r}, may cost up to ${cost(cheapest)} with max_tokens={bound.completion_tokens}; "
                    "fix: raise the limit or lower max_tokens",
                    param="x-frugal-max-cost-usd",
                    code="max_cost_unmet",
                )
        if remaining_usd is not None:
            within = [t for t in affordable if cost(t) <= remaining_usd]
            if not within:
                # The budget store is the one judge of a budget: its reservation refuses this (429).
                return Decision([min(affordable, key=cost)], "over-budget", score)
            affordable = within
        fast = affordable
        if limits.latency_target_ms is not None:
            fast = [t for t in affordable if t.cfg.expected_latency_ms <= limits.latency_target_ms] or affordable
        capable = [t for t in fast if t.cfg.max_complexity >= score]
        reason = "cheapest-capable"
        if not capable:
            capable = [max(fast, key=lambda t: (t.cfg.max_complexity, -cost(t)))]
            reason = "degraded"
        free = [t for t in capable if t.available() and t.in_flight < t.slots]
        if free and free[0] is not capable[0]:
            reason += "+load"
        first = free[0] if free else next((t for t in capable if t.available()), capable[0])
        stronger = [t for t in fast if t is not first and t.cfg.max_complexity >= score]
        weaker = [t for t in fast if t is not first and t.cfg.max_complexity < score]
        return Decision([first, *stronger, *reversed(weaker)], reason, score)

    def decide_embeddings(self, target: str, tenant: TenantInfo) -> Decision:
        """Every tier that serves embeddings as `target` (a tier name, or `auto` for any), in
        configured order; the first answers, the rest are fallbacks."""
        serving = [t for t in self.tiers.values() if t.serves_embeddings]
        chain = [t for t in serving if target in ("auto", t.name)]
        if not chain:
            raise UnknownModel(
                f"no tier serves embeddings as {target!r}; serving: {[t.name for t in serving]}", param="model"
            )
        chain = self._allowed(tenant, chain)
        if not chain:
            raise PermissionDenied(f"tenant {tenant.name!r} may use no embeddings tier", param="model")
        return Decision(chain, "embeddings")

    def check_overload(self, chain: list[TierState]) -> list[TierState]:
        """The chain without tiers that are down or whose queue is full; Overloaded (429) if none is left."""
        usable = [t for t in chain if t.available() and not self._queue_full(t)]
        if usable:
            return usable
        if any(t.available() for t in chain):
            raise Overloaded(
                f"every suitable tier is at its queue limit ({', '.join(t.name for t in chain)}); retry shortly"
            )
        return []


def _check_media(tier: TierState, media: frozenset[str]) -> None:
    if not tier.accepts(media):
        missing = ", ".join(sorted(media - (tier.input_modalities or frozenset())))
        raise InvalidRequest(
            f"tier {tier.name!r} accepts {', '.join(sorted(tier.input_modalities or ()))} input only, and this "
            f"request carries {missing}; remove those content parts or choose a model that reads them",
            param="messages",
            code="unsupported_input",
        )


def price_of(tier: Tier) -> TierPrice:
    p, c = tier.price.per_1k()
    return TierPrice(p, c)
