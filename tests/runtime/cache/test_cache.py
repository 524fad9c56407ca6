"""FrugalCache through its protocol: exact and semantic hits, scoping, controls, TTL, budget, metrics.

Uses the real embedder and index; the clock is a settable fake so TTLs are tested without sleeping.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from runtime.cache.cache import FrugalCache
from runtime.cache.metrics import CacheMetrics
from runtime.cache.settings import CacheSettings
from tests.runtime.cache.conftest import Clock, answer, ask

pytestmark = pytest.mark.anyio


def make(embedder, clock: Clock | None = None, registry: CollectorRegistry | None = None, **settings) -> FrugalCache:
    return FrugalCache(
        CacheSettings(**settings),
        metrics=CacheMetrics(registry or CollectorRegistry()),
        price=lambda tier, p, c: Decimal("0.000001") * (p + 2 * c) if tier == "small" else None,
        embedder=embedder,
        clock=clock or Clock(),
    )


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_an_identical_deterministic_request_is_answered_from_the_exact_cache(embedder) -> None:
    cache = make(embedder)
    assert await cache.lookup(ask("What is the capital of France?")) is None, "an empty cache must miss"
    await cache.store(ask("What is the capital of France?"), answer("Paris."), tier="small")
    hit = await cache.lookup(ask("What is the capital of France?  "))
    assert hit is not None and hit.kind == "exact", "trailing whitespace must not change the exact key"
    assert hit.body["choices"][0]["message"]["content"] == "Paris.", "the stored answer must come back unchanged"
    assert (hit.prompt_tokens, hit.completion_tokens, hit.tier) == (20, 30, "small"), "usage and tier come back"


async def test_any_answer_changing_parameter_gives_a_different_exact_key(embedder) -> None:
    cache = make(embedder, semantic_enabled=False)
    await cache.store(ask("Name a colour."), answer("Red."), tier="small")
    for params in ({"max_tokens": 5}, {"top_p": 0.5}, {"stop": ["\n"]}, {"response_format": {"type": "json_object"}}):
        assert await cache.lookup(ask("Name a colour.", params=params)) is None, f"{params} must not share the key"
    assert await cache.lookup(ask("Name a colour.", params={"stream": True, "user": "u1"})) is not None, (
        "stream/user do not change the answer, so they must not change the key"
    )


async def test_non_deterministic_requests_are_neither_cached_nor_answered_by_default(embedder) -> None:
    cache = make(embedder)
    await cache.store(ask("Tell me a joke.", temperature=0.8), answer("A joke."), tier="small")
    assert await cache.lookup(ask("Tell me a joke.", temperature=0.8)) is None, "temperature 0.8 must not be cached"
    await cache.store(ask("Tell me a joke.", temperature=0.8, params={"seed": 7}), answer("Seeded."), tier="small")
    assert await cache.lookup(ask("Tell me a joke.", temperature=0.8, params={"seed": 7})) is not None, (
        "a seed makes the request deterministic"
    )
    lax = make(embedder, deterministic_only=False)
    await lax.store(ask("Tell me a joke.", temperature=0.8), answer("A joke."), tier="small")
    assert await lax.lookup(ask("Tell me a joke.", temperature=0.8)) is not None, "deterministic_only=False caches all"


async def test_no_store_no_cache_and_tenant_opt_out_are_honoured(embedder) -> None:
    cache = make(embedder, disabled_tenants=frozenset({"optout"}))
    await cache.store(ask("Q1", no_store=True), answer("A1"), tier="small")
    assert await cache.lookup(ask("Q1")) is None, "no-store must not write"
    await cache.store(ask("Q2", no_cache=True), answer("A2"), tier="small")
    assert await cache.lookup(ask("Q2", no_cache=True)) is None, "no-cache must not read"
    assert await cache.lookup(ask("Q2")) is not None, "no-cache still stores the fresh answer"
    await cache.store(ask("Q3", tenant="optout"), answer("A3"), tier="small")
    assert await cache.lookup(ask("Q3", tenant="optout")) is None, "an opted-out tenant is never cached"


async def test_tenant_b_never_gets_tenant_a_answer_for_identical_or_paraphrased_prompts(embedder) -> None:
    cache = make(embedder)
    await cache.store(ask("How do I reset my password?", tenant="a"), answer("secret-a"), tier="small")
    assert await cache.lookup(ask("How do I reset my password?", tenant="a")) is not None, "tenant a must hit"
    for text in ("How do I reset my password?", "How can I reset my password?", "how do i reset my password"):
        assert await cache.lookup(ask(text, tenant="b")) is None, f"tenant b must never see tenant a's answer: {text}"


async def test_a_paraphrase_hits_semantically_only_for_tenants_that_opted_in(embedder) -> None:
    cache = make(embedder)
    await cache.store(ask("How do I reset my password?"), answer("Click 'forgot'."), tier="small")
    hit = await cache.lookup(ask("How can I reset my password?"))
    assert hit is not None and hit.kind == "semantic", "a close paraphrase must hit semantically"
    assert hit.similarity is not None and hit.similarity >= 0.965, "the similarity is reported and above threshold"
    assert await cache.lookup(ask("How can I reset my password?", semantic=False)) is None, (
        "without the tenant's opt-in only exact matches count"
    )


async def test_the_same_follow_up_in_two_conversations_does_not_cross(embedder) -> None:
    cache = make(embedder)
    python = [
        {"role": "user", "content": "How do I sort a list in Python?"},
        {"role": "assistant", "content": "sorted(x)"},
    ]
    rust = [
        {"role": "user", "content": "How do I sort a vector in Rust?"},
        {"role": "assistant", "content": "v.sort()"},
    ]
    await cache.store(ask("And in reverse order?", history=python), answer("sorted(x, reverse=True)"), tier="small")
    assert await cache.lookup(ask("And in reverse order?", history=python)) is not None, "same conversation hits"
    assert await cache.lookup(ask("And in reverse order?", history=rust)) is None, "another conversation must miss"
    assert await cache.lookup(ask("And in reverse order, please?", history=rust)) is None, (
        "a paraphrased follow-up in another conversation must miss"
    )


async def test_a_per_tenant_threshold_overrides_the_preset(embedder) -> None:
    cache = make(embedder, tenant_thresholds={"strict": 0.999})
    for tenant in ("strict", "normal"):
        await cache.store(ask("How do I reset my password?", tenant=tenant), answer("x"), tier="small")
    assert await cache.lookup(ask("How can I reset my password?", tenant="normal")) is not None, (
        "default threshold hits"
    )
    assert await cache.lookup(ask("How can I reset my password?", tenant="strict")) is None, "0.999 must not hit"
    assert await cache.lookup(ask("How can I reset my password?", tenant="strict", similarity_threshold=0.9)), (
        "a request-level threshold (from the router's tenant config) wins"
    )


async def test_entries_expire_after_their_ttl(embedder, clock: Clock) -> None:
    cache = make(embedder, clock, ttl_seconds=60)
    await cache.store(ask("What time zone is Paris in?"), answer("CET"), tier="small")
    clock.now += 59
    assert await cache.lookup(ask("What time zone is Paris in?")) is not None, "inside the TTL it hits"
    clock.now += 2
    assert await cache.lookup(ask("What time zone is Paris in?")) is None, "past the TTL it misses (exact)"
    assert await cache.lookup(ask("Which time zone is Paris in?")) is None, "past the TTL it misses (semantic)"
    assert cache.stats()["entries"] == 0, "the expired entry is gone"


async def test_a_write_storm_stays_under_the_byte_budget_and_evicts_least_recently_used(embedder) -> None:
    registry = CollectorRegistry()
    budget = 64 * 1024
    cache = make(embedder, registry=registry, max_bytes=budget, semantic_enabled=False)
    await cache.store(ask("keep me"), answer("kept"), tier="small")
    for i in range(500):
        await cache.lookup(ask("keep me"))  # recently used: must survive
        await cache.store(ask(f"question {i}"), answer("x" * (100 + 7 * (i % 50))), tier="small")
        assert cache.stats()["bytes"] <= budget, f"bytes {cache.stats()['bytes']} over the budget after write {i}"
    assert await cache.lookup(ask("keep me")) is not None, "the hot entry must survive LRU eviction"
    assert await cache.lookup(ask("question 0")) is None, "the oldest cold entry must be evicted"
    assert metric(registry, "frugal_cache_evictions_total", reason="budget") > 100, "evictions are counted"
    assert metric(registry, "frugal_cache_bytes") == cache.stats()["bytes"], "bytes are exported"


async def test_hits_count_tokens_and_dollars_saved_at_the_tier_price(embedder) -> None:
    registry = CollectorRegistry()
    cache = make(embedder, registry=registry)
    await cache.store(ask("What is 2+2?"), answer("4", prompt_tokens=10, completion_tokens=5), tier="small")
    await cache.lookup(ask("What is 2+2?"))
    await cache.lookup(ask("What is 3+3?"))
    assert metric(registry, "frugal_cache_lookups_total", kind="exact", tier="small", result="hit") == 1, "one hit"
    assert metric(registry, "frugal_cache_lookups_total", kind="exact", tier="small", result="miss") == 1, "one miss"
    assert metric(registry, "frugal_cache_tokens_saved_total", kind="exact", tier="small", direction="completion") == 5
    assert metric(registry, "frugal_cache_usd_saved_total", kind="exact", tier="small") == pytest.approx(20e-6), (
        "USD saved = the price callback's figure for the hit's tokens (10 + 2*5 micro-dollars)"
    )
    assert metric(registry, "frugal_cache_lookup_seconds_count", kind="exact") == 2, "latency is observed"


async def test_a_rejected_hard_negative_is_counted_by_reason(embedder) -> None:
    registry = CollectorRegistry()
    cache = make(embedder, registry=registry, semantic_threshold=0.9)  # cosine of the pair: ~0.955
    await cache.store(ask("Is chocolate good for dogs?"), answer("No."), tier="small")
    assert await cache.lookup(ask("Is chocolate bad for dogs?")) is None, "an antonym pair must not hit"
    assert metric(registry, "frugal_cache_semantic_rejections_total", reason="antonym") == 1, "the reason is counted"


async def test_concurrent_semantic_lookups_share_embedding_batches(embedder) -> None:
    cache = make(embedder, embed_max_wait_ms=20)
    questions = [f"What is the population of city number {i}?" for i in range(16)]
    await asyncio.gather(*(cache.lookup(ask(q)) for q in questions))
    batcher = cache._batcher
    assert batcher is not None and batcher.items == 16, "every query was embedded"
    assert batcher.batches <= 4, f"16 concurrent queries must share batches, got {batcher.batches} batches"


async def test_incomplete_or_oversized_answers_are_not_stored(embedder) -> None:
    cache = make(embedder, max_body_bytes=2048)
    truncated = answer("partial")
    truncated["choices"][0]["finish_reason"] = None
    await cache.store(ask("Q"), truncated, tier="small")
    assert await cache.lookup(ask("Q")) is None, "an answer without finish_reason is not cached"
    await cache.store(ask("Q"), answer("y" * 5000), tier="small")
    assert await cache.lookup(ask("Q")) is None, "an answer over max_body_bytes is not cached"


@pytest.mark.parametrize("dtype", ["f32", "i8"])
async def test_a_large_scope_is_searched_through_the_hnsw_index(embedder, dtype: str) -> None:
    import numpy as np

    from runtime.cache import keys
    from runtime.cache.store import Entry

    clock = Clock()
    cache = make(embedder, clock, index_dtype=dtype)
    scope = keys.semantic_scope(ask("anything"))
    rng = np.random.default_rng(5)
    for i in range(400):  # > 256 entries in one scope: the index path, not the exact scan
        v = rng.standard_normal(384).astype(np.float32)
        cache.insert(
            Entry(key=f"k{i}", tenant="acme", model="small", tier="small", body=b"{}", prompt_tokens=0,
                  completion_tokens=0, created_at=clock.now, expires_at=clock.now + 60, scope=scope,
                  text=f"filler {i}", vector=v / np.linalg.norm(v))
        )  # fmt: skip
    await cache.store(ask("How do I reset my password?"), answer("Click forgot."), tier="small")
    hit = await cache.lookup(ask("How can I reset my password?"))
    assert hit is not None and hit.kind == "semantic", f"the {dtype} index finds the paraphrase among 401 entries"
    assert hit.similarity is not None and hit.similarity >= 0.965, "the decision uses the exact float32 cosine"
