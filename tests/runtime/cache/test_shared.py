"""Sharing through a real redis-server: two replicas share hits, a late one catches up, Redis dying
mid-test never turns into an error, invalidation reaches every replica."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from runtime.cache.cache import FrugalCache
from runtime.cache.metrics import CacheMetrics
from runtime.cache.settings import CacheSettings
from tests.runtime.cache.conftest import RedisServer, answer, ask

pytestmark = pytest.mark.anyio


async def replica(embedder, url: str, registry: CollectorRegistry | None = None, **settings) -> FrugalCache:
    cache = FrugalCache(
        CacheSettings(redis_url=url, redis_retry_seconds=0.2, redis_timeout_ms=100, **settings),
        metrics=CacheMetrics(registry or CollectorRegistry()),
        embedder=embedder,
    )
    await cache.start()
    return cache


async def eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_two_replicas_share_exact_and_semantic_hits(embedder, redis_server: RedisServer) -> None:
    a = await replica(embedder, redis_server.url)
    b = await replica(embedder, redis_server.url)
    await a.store(ask("How do I reset my password?"), answer("Click forgot."), tier="small")
    await a.flush()
    hit = await b.lookup(ask("How do I reset my password?"))
    assert hit is not None and hit.kind == "exact", "replica b answers a's exact entry from Redis"

    async def semantic_on_b() -> bool:
        found = await b.lookup(ask("How can I reset my password?"))
        return found is not None and found.kind == "semantic"

    assert await eventually(semantic_on_b), "replica b receives a's semantic entry through the stream"
    assert await b.lookup(ask("How can I reset my password?", tenant="other")) is None, (
        "shared entries stay scoped to their tenant"
    )
    await a.close()
    await b.close()


async def test_a_replica_that_starts_late_catches_up_from_the_stream(embedder, redis_server: RedisServer) -> None:
    a = await replica(embedder, redis_server.url)
    for i, city in enumerate(("Paris", "Berlin", "Madrid")):
        await a.store(ask(f"What are the best museums in {city}?"), answer(f"museums {i}"), tier="small")
    await a.flush()
    late = await replica(embedder, redis_server.url)
    assert late.stats()["semantic_entries"] == 3, "start() reads the whole stream before serving"
    hit = await late.lookup(ask("Which are the best museums in Berlin?"))
    assert hit is not None and hit.body["choices"][0]["message"]["content"] == "museums 1", "late replica hits"
    await a.close()
    await late.close()


async def test_requests_keep_succeeding_when_redis_is_killed_mid_test(embedder, redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    cache = await replica(embedder, redis_server.url, registry)
    await cache.store(ask("What is the capital of France?"), answer("Paris."), tier="small")
    await cache.flush()
    redis_server.stop()
    started = time.perf_counter()
    for i in range(20):
        assert await cache.lookup(ask("What is the capital of France?")) is not None, "local hits still served"
        assert await cache.lookup(ask(f"Unseen question {i}?")) is None, "misses are plain misses, not errors"
        await cache.store(ask(f"Unseen question {i}?"), answer("x"), tier="small")
    await cache.flush()
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"a dead Redis must not stall requests (took {elapsed:.1f}s for 60 calls)"
    errors = sum(s.value for m in registry.collect() if m.name == "frugal_cache_redis_errors" for s in m.samples
                 if s.name.endswith("_total"))  # fmt: skip
    assert errors >= 1, "the failure shows in metrics"
    assert registry.get_sample_value("frugal_cache_redis_up") == 0, "redis_up drops to 0"
    redis_server.start()

    async def recovered() -> bool:
        await cache.store(ask("After recovery?"), answer("y"), tier="small")
        await cache.flush()
        return registry.get_sample_value("frugal_cache_redis_up") == 1

    assert await eventually(recovered), "once Redis is back, the cache uses it again"
    await cache.close()


async def test_a_cache_configured_with_an_unreachable_redis_still_serves(embedder) -> None:
    from tests.redis_server import free_port

    cache = await replica(embedder, f"redis://127.0.0.1:{free_port()}/0")
    await cache.store(ask("Q?"), answer("A"), tier="small")
    assert await cache.lookup(ask("Q?")) is not None, "local cache works with Redis unreachable from the start"
    await cache.close()


async def test_invalidation_reaches_redis_and_the_other_replicas(embedder, redis_server: RedisServer) -> None:
    a = await replica(embedder, redis_server.url)
    b = await replica(embedder, redis_server.url)
    await a.store(ask("How do I reset my password?"), answer("x"), tier="small")
    await a.store(ask("How do I reset my password?", tenant="keep"), answer("y"), tier="small")
    await a.flush()
    assert await eventually(lambda: _has(b, 2)), "b receives both entries"
    removed = await a.invalidate(tenant="acme")
    assert removed == 1, "one local entry of tenant acme removed"
    assert await eventually(lambda: _has(b, 1)), "b drops tenant acme's entry through the stream"
    fresh = await replica(embedder, redis_server.url)
    assert await fresh.lookup(ask("How do I reset my password?")) is None, "acme's exact entry is gone from Redis"
    assert await fresh.lookup(ask("How do I reset my password?", tenant="keep")) is not None, "other tenants stay"
    for cache in (a, b, fresh):
        await cache.close()


async def _has(cache: FrugalCache, n: int) -> bool:
    return cache.stats()["entries"] == n


async def test_a_redis_that_accepts_but_never_answers_costs_a_bounded_delay(embedder) -> None:
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections (the kernel does), never replies: a hung server
    registry = CollectorRegistry()
    try:
        cache = FrugalCache(
            CacheSettings(redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0", redis_timeout_ms=50,
                          redis_retry_seconds=30),
            metrics=CacheMetrics(registry),
            embedder=embedder,
        )  # fmt: skip
        t0 = time.perf_counter()
        await cache.start()
        startup = time.perf_counter() - t0
        started = time.perf_counter()
        await cache.store(ask("Q?"), answer("A"), tier="small")
        for _ in range(20):
            assert await cache.lookup(ask("Q?")) is not None, "local hits are served while Redis hangs"
            assert await cache.lookup(ask("Unseen?", semantic=False)) is None, "misses stay misses"
        await cache.flush()
        elapsed = time.perf_counter() - started
        await cache.close()
    finally:
        silent.close()
    assert startup < 3.0, f"joining a hung Redis at start is bounded (took {startup:.1f}s)"
    assert elapsed < 1.0, f"a hung Redis costs one short timeout, then is skipped (41 calls took {elapsed:.2f}s)"
    assert registry.get_sample_value("frugal_cache_redis_up") == 0, "the hang shows in metrics"
