"""`auto` routing: complexity, cost and latency limits, remaining budget and live load, one decision."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from runtime.auth import TenantInfo
from runtime.complexity import score
from runtime.errors import BudgetExceeded, InvalidRequest, Overloaded, PermissionDenied, UnknownModel
from runtime.routing import CircuitBreaker, Limits, Router, TierState, price_of
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


def _decide(router: Router, messages, **kw):  # type: ignore[no-untyped-def]
    s = score(messages).score
    args = {"prompt_bound": 100, "max_tokens": 100, "score": s, "limits": Limits(), "remaining_usd": None}
    args.update(kw)
    return router.decide("auto", kw.pop("tenant", ANYONE), **args)


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
    d = _decide(router, HARD, limits=Limits(max_cost_usd=Decimal("0.0004")))
    assert d.chain[0].name == "medium", "large would cost up to $0.004; medium ($0.0003) fits the limit"
    with pytest.raises(InvalidRequest, match="max_cost_usd"):
        _decide(router, EASY, limits=Limits(max_cost_usd=Decimal("0.000001")))


def test_a_latency_target_excludes_slow_tiers() -> None:
    d = _decide(_router(), HARD, limits=Limits(latency_target_ms=1000))
    assert d.chain[0].name == "medium", "large (3000 ms) misses a 1000 ms target"
    assert all(t.cfg.expected_latency_ms <= 1000 for t in d.chain), "no slow tier in the chain"


def test_a_low_remaining_budget_picks_a_cheaper_tier_and_none_fitting_is_429() -> None:
    router = _router()
    d = _decide(router, HARD, remaining_usd=Decimal("0.001"))
    assert d.chain[0].name == "medium", "large ($0.004 worst case) no longer fits $0.001 left"
    with pytest.raises(BudgetExceeded):
        _decide(router, EASY, remaining_usd=Decimal("0.00001"))


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
        router.decide("large", limited, prompt_bound=1, max_tokens=1, score=None, limits=Limits(), remaining_usd=None)


def test_the_complexity_score_is_fast() -> None:
    # Not a benchmark (bench/router_overhead.py measures it); a guard against a pathological regex.
    t0 = time.perf_counter()
    for _ in range(200):
        score(HARD)
    per_call_ms = (time.perf_counter() - t0) / 200 * 1000
    assert per_call_ms < 2, f"scoring a long prompt stays far below a millisecond-scale budget ({per_call_ms:.3f} ms)"
