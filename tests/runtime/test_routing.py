"""`auto` routing: complexity, cost and latency limits, remaining budget and live load, one decision."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from runtime.accounting import Bound
from runtime.auth import TenantInfo
from runtime.complexity import score
from runtime.errors import InvalidRequest, Overloaded, PermissionDenied, UnknownModel
from runtime.routing import CircuitBreaker, Decision, RequestLimits, Router, TierState, price_of
from runtime.settings import settings_from_dict

ANYONE = TenantInfo("t", None, None, None, False)
EASY = [{"role": "user", "content": "What is the capital of France?"}]
HARD = [
    {
        "role": "user",
        "content": "Explain step by step why this recursive function is slow, analyze its complexity, "
        "and prove the optimised version is correct:\n```python\ndef fib(n):\n    return fib(n-1) + fib(n-2)\n```\n"
        + "Compare the trade-offs in detail. "
        * 40,
    }
]


def _router() -> Router:
    tiers = [
        {"name": "small", "url": "http://s", "price": {"prompt_per_1k": "0.0001", "completion_per_1k": "0.0002"},
         "max_complexity": 0.35, "expected_latency_ms": 300},
        {"name": "medium", "url": "http://m", "price": {"prompt_per_1k": "0.001", "completion_per_1k": "0.002"},
         "max_complexity": 0.7, "expected_latency_ms": 800},
        {"name": "large", "url": "http://l", "price": {"prompt_per_1k": "0.01", "completion_per_1k": "0.03"},
         "max_complexity": 1.0, "expected_latency_ms": 3000},
    ]  # fmt: skip
    settings = settings_from_dict({"tiers": tiers, "aliases": {"fast": "small", "best": "auto"}}, {})
    states = {t.name: TierState(t, price_of(t), CircuitBreaker(), ready=True, slots=2) for t in settings.tiers}
    return Router(settings, states)


def _decide(
    router: Router,
    messages: list[dict[str, Any]],
    *,
    tenant: TenantInfo = ANYONE,
    limits: RequestLimits | None = None,
    remaining_usd: Decimal | None = None,
) -> Decision:
    """`auto` for these messages with a 100-token prompt bound and max_tokens=100."""
    return router.decide(
        "auto",
        tenant,
        bound=Bound(100, 100),
        score=score(messages).score,
        limits=limits or RequestLimits(),
        remaining_usd=remaining_usd,
    )


def test_an_easy_question_goes_to_the_cheapest_tier_and_a_hard_one_to_a_capable_tier() -> None:
    router = _router()
    assert score(EASY).score < 0.35 < score(HARD).score, "the hard prompt scores above the small tier's limit"
    easy, hard = _decide(router, EASY), _decide(router, HARD)
    assert easy.chain[0].name == "small", f"easy -> cheapest ({easy.reason})"
    assert hard.chain[0].name in ("medium", "large") and hard.chain[0].cfg.max_complexity >= hard.score, (
        f"hard -> a tier whose max_complexity covers the score {hard.score}"
    )
    assert [t.name for t in hard.chain][1:] and hard.chain[-1].name == "small", "the fallbacks end with weaker tiers"


def test_a_max_cost_limit_excludes_tiers_whose_worst_case_does_not_fit() -> None:
    router = _router()
    d = _decide(router, HARD, limits=RequestLimits(max_cost_usd=Decimal("0.0004")))
    assert d.chain[0].name == "medium", "large would cost up to $0.004; medium ($0.0003) fits the limit"
    with pytest.raises(InvalidRequest, match="max_cost_usd"):
        _decide(router, EASY, limits=RequestLimits(max_cost_usd=Decimal("0.000001")))


def test_a_latency_target_excludes_slow_tiers() -> None:
    d = _decide(_router(), HARD, limits=RequestLimits(latency_target_ms=1000))
    assert d.chain[0].name == "medium", "large (3000 ms) misses a 1000 ms target"
    assert all(t.cfg.expected_latency_ms <= 1000 for t in d.chain), "no slow tier in the chain"


def test_a_low_remaining_budget_picks_a_cheaper_tier_and_none_fitting_goes_to_the_store_on_the_cheapest() -> None:
    router = _router()
    d = _decide(router, HARD, remaining_usd=Decimal("0.001"))
    assert d.chain[0].name == "medium", "large ($0.004 worst case) no longer fits $0.001 left"
    broke = _decide(router, HARD, remaining_usd=Decimal("0.00001"))
    # The budget store is the one judge (its reservation refuses with 429, tests/runtime/test_budgets.py):
    # the router only sends the cheapest tier, so the refusal quotes the smallest possible cost.
    assert [t.name for t in broke.chain] == ["small"], f"only the cheapest tier is tried ({broke.chain})"
    assert broke.reason == "over-budget", f"the route says why ({broke.reason})"


def test_a_busy_tier_is_passed_over_while_another_capable_one_has_a_free_slot() -> None:
    router = _router()
    idle = _decide(router, HARD)
    assert idle.chain[0].name == "medium", f"idle: the hard prompt goes to medium ({idle.score})"
    router.tiers["medium"].in_flight = router.tiers["medium"].slots
    busy = _decide(router, HARD)
    assert busy.chain[0].name == "large", "medium's slots are all taken and large has one free"
    assert "+load" in busy.reason, f"the reason says load moved it ({busy.reason})"
    assert "medium" in [t.name for t in busy.chain], "the busy tier stays in the chain as a fallback"


def test_a_full_queue_everywhere_is_overloaded() -> None:
    router = _router()
    for t in router.tiers.values():
        t.in_flight = t.slots * router.max_queue_per_slot
    with pytest.raises(Overloaded):
        router.check_overload(_decide(router, EASY).chain)


def test_names_aliases_and_unknown_models_resolve_as_documented() -> None:
    router = _router()
    assert router.resolve("fast") == "small" and router.resolve("best") == "auto", "aliases resolve"
    assert router.resolve(None) == "auto", "no model means the default, auto"
    with pytest.raises(UnknownModel):
        router.resolve("gpt-99")
    limited = TenantInfo("t", None, None, frozenset({"small"}), False)
    with pytest.raises(PermissionDenied):
        router.decide("large", limited, bound=Bound(1, 1), score=None, limits=RequestLimits(), remaining_usd=None)


def test_auto_only_chooses_among_the_tiers_a_tenant_may_use() -> None:
    router = _router()
    small_only = TenantInfo("s", None, None, frozenset({"small"}), False)
    no_large = TenantInfo("m", None, None, frozenset({"small", "medium"}), False)
    nothing = TenantInfo("n", None, None, frozenset(), False)
    hard_small = _decide(router, HARD, tenant=small_only)
    hard_no_large = _decide(router, HARD, tenant=no_large)
    assert [t.name for t in hard_small.chain] == ["small"], "a hard prompt stays on the only allowed tier"
    assert hard_small.reason == "degraded", "and the route says the tier is weaker than the prompt needs"
    assert "large" not in [t.name for t in hard_no_large.chain], "a forbidden tier is never a fallback either"
    assert hard_no_large.chain[0].name == "medium", "the capable allowed tier answers"
    with pytest.raises(PermissionDenied):
        _decide(router, EASY, tenant=nothing)


def test_the_complexity_score_is_fast() -> None:
    # Not a benchmark (bench/router_overhead.py measures it); a guard against a pathological regex.
    t0 = time.perf_counter()
    for _ in range(200):
        score(HARD)
    per_call_ms = (time.perf_counter() - t0) / 200 * 1000
    assert per_call_ms < 2, f"scoring a long prompt stays far below a millisecond-scale budget ({per_call_ms:.3f} ms)"
