"""The cache inside the real router (create_app served by uvicorn, a fake llama-server upstream).

Counts upstream calls to tell hits from misses, reads `x-frugal-cache`, `/metrics` and the admin
API. Redis tests use a real redis-server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from runtime.cache.persist import SNAPSHOT_NAME
from tests.runtime.cache.conftest import RedisServer
from tests.runtime.conftest import KEY_A, KEY_B, config, remote_tier, run_router
from tests.runtime.fake_llama import FakeLlama

ADMIN = "admin-key-0123456789"


def settings(fake: FakeLlama, tmp_path: Path, **cache: Any):
    tenants = [
        {"name": "a", "keys": [{"key": KEY_A}], "semantic_cache": True},
        {"name": "b", "keys": [{"key": KEY_B}], "semantic_cache": True},
    ]
    return config(
        [remote_tier("cheap", fake.url, prompt="0.01", completion="0.02")],
        tmp_path,
        tenants=tenants,
        cache={"admin_key": ADMIN, **cache},
    )


def chat(router, text: str, key: str = KEY_A, history: list | None = None, **extra: Any) -> httpx.Response:
    body = {
        "model": "cheap",
        "temperature": 0,
        "messages": [*(history or []), {"role": "user", "content": text}],
        **extra,
    }
    r = httpx.post(router.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, f"the router answers ({r.status_code}: {r.text[:200]})"
    return r


def test_exact_and_semantic_hits_carry_the_cache_header_and_similarity(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path)) as router:
        miss = chat(router, "How do I reset my password?")
        exact = chat(router, "How do I reset my password?")
        semantic = chat(router, "How can I reset my password?")
        streamed = chat(router, "How can I reset my password?", stream=True)
        metrics = httpx.get(router.url + "/metrics").text
    assert miss.headers["x-frugal-cache"] == "miss", "the first request is a miss"
    assert exact.headers["x-frugal-cache"] == "hit-exact", "the same request is an exact hit"
    assert semantic.headers["x-frugal-cache"] == "hit-semantic", "a paraphrase is a semantic hit"
    assert float(semantic.headers["x-frugal-cache-similarity"]) >= 0.965, "the similarity is reported"
    assert streamed.headers["content-type"].startswith("text/event-stream"), "a stream hit replays as SSE"
    assert streamed.content.endswith(b"data: [DONE]\n\n") and b"Hello from the fake." in streamed.content, (
        "the replayed stream carries the cached answer and ends with [DONE]"
    )
    assert len(fake.requests) == 1, f"only the miss reached the upstream ({len(fake.requests)} calls)"
    assert 'frugal_cache_lookups_total{kind="semantic",result="hit",tier="cheap"}' in metrics, "hits in /metrics"
    assert "frugal_cache_usd_saved_total" in metrics, "dollars saved are exported"


def test_tenant_b_never_receives_tenant_a_answer(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path)) as router:
        chat(router, "How do I reset my password?", KEY_A)
        identical = chat(router, "How do I reset my password?", KEY_B)
        paraphrase = chat(router, "How can I reset my password?", KEY_B)
    assert identical.headers["x-frugal-cache"] == "miss", "identical prompt of tenant b misses"
    assert paraphrase.headers["x-frugal-cache"] != "hit-semantic" or len(fake.requests) == 2, (
        "a paraphrase of tenant b can only hit tenant b's own entry"
    )
    assert len(fake.requests) == 2, f"tenant b's identical prompt went upstream ({len(fake.requests)} calls)"


def test_the_same_follow_up_in_two_conversations_does_not_cross(fake: FakeLlama, tmp_path: Path) -> None:
    py = [{"role": "user", "content": "How do I sort a list in Python?"}, {"role": "assistant", "content": "sorted"}]
    rs = [{"role": "user", "content": "How do I sort a vector in Rust?"}, {"role": "assistant", "content": "sort"}]
    with run_router(settings(fake, tmp_path)) as router:
        chat(router, "And in reverse order?", history=py)
        same = chat(router, "And in reverse order?", history=py)
        other = chat(router, "And in reverse order?", history=rs)
    assert same.headers["x-frugal-cache"] == "hit-exact", "the same conversation hits"
    assert other.headers["x-frugal-cache"] == "miss", "another conversation's follow-up misses"


def test_a_write_storm_keeps_the_cache_under_its_byte_budget(fake: FakeLlama, tmp_path: Path) -> None:
    budget = 48 * 1024
    with run_router(settings(fake, tmp_path, max_bytes=budget, semantic_enabled=False)) as router:
        with httpx.Client() as client:
            for i in range(300):
                client.post(
                    router.url + "/v1/chat/completions",
                    json={"model": "cheap", "temperature": 0, "messages": [{"role": "user", "content": f"q{i}"}]},
                    headers={"authorization": f"Bearer {KEY_A}"},
                )
                if i % 50 == 49:
                    stats = client.get(router.url + "/admin/cache/stats", headers={"x-admin-key": ADMIN}).json()
                    assert stats["bytes"] <= budget, f"bytes {stats['bytes']} over the budget after {i + 1} writes"
        stats = httpx.get(router.url + "/admin/cache/stats", headers={"x-admin-key": ADMIN}).json()
        metrics = httpx.get(router.url + "/metrics").text
    assert 0 < stats["entries"] < 300, f"old entries were evicted ({stats['entries']} kept)"
    assert 'frugal_cache_evictions_total{reason="budget"}' in metrics, "evictions are exported"


def test_entries_expire_after_their_ttl(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path, ttl_seconds=1)) as router:
        chat(router, "What is the capital of France?")
        assert chat(router, "What is the capital of France?").headers["x-frugal-cache"] == "hit-exact", "fresh hit"
        time.sleep(1.2)
        assert chat(router, "What is the capital of France?").headers["x-frugal-cache"] == "miss", "expired"


def test_the_cache_survives_a_restart_and_a_corrupt_snapshot_is_rebuilt(fake: FakeLlama, tmp_path: Path) -> None:
    snap = tmp_path / "cache"
    with run_router(settings(fake, tmp_path, snapshot_dir=str(snap))) as router:
        chat(router, "How do I reset my password?")
    with run_router(settings(fake, tmp_path, snapshot_dir=str(snap))) as router:
        assert chat(router, "How can I reset my password?").headers["x-frugal-cache"] == "hit-semantic", (
            "the restarted router answers from the snapshot"
        )
    (snap / SNAPSHOT_NAME).write_bytes(b"not a snapshot")
    with run_router(settings(fake, tmp_path, snapshot_dir=str(snap))) as router:
        assert chat(router, "How can I reset my password?").headers["x-frugal-cache"] == "miss", (
            "a corrupt snapshot starts empty instead of crashing"
        )
        chat(router, "What is the capital of France?")
    with run_router(settings(fake, tmp_path, snapshot_dir=str(snap))) as router:
        assert chat(router, "What is the capital of France?").headers["x-frugal-cache"] == "hit-exact", (
            "the snapshot written after the recovery is good again"
        )


def test_two_routers_share_hits_and_redis_dying_never_fails_a_request(
    fake: FakeLlama, tmp_path: Path, redis_server: RedisServer
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = settings(fake, tmp_path / "one", redis_url=redis_server.url, redis_retry_seconds=0.2)
    second = settings(fake, tmp_path / "two", redis_url=redis_server.url, redis_retry_seconds=0.2)
    with run_router(first) as one, run_router(second) as two:
        chat(one, "How do I reset my password?")
        assert chat(two, "How do I reset my password?").headers["x-frugal-cache"] == "hit-exact", (
            "router two answers router one's entry from Redis"
        )
        deadline = time.monotonic() + 5
        while chat(two, "How can I reset my password?").headers["x-frugal-cache"] != "hit-semantic":
            assert time.monotonic() < deadline, "router two receives the semantic entry through the stream"
            time.sleep(0.1)
        redis_server.stop()
        for i in range(10):
            chat(one, f"Question {i} while Redis is down?")  # asserts 200 inside
            assert chat(one, "How do I reset my password?").headers["x-frugal-cache"] == "hit-exact", (
                "local hits keep being served with Redis down"
            )
        metrics = httpx.get(one.url + "/metrics").text
    assert "frugal_cache_redis_errors_total" in metrics and "frugal_cache_redis_up 0.0" in metrics, (
        "the Redis failure is visible in metrics"
    )


def test_the_admin_api_invalidates_by_tenant_with_the_admin_key_only(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path)) as router:
        chat(router, "What is the capital of France?", KEY_A)
        chat(router, "What is the capital of France?", KEY_B)
        url = router.url + "/admin/cache/invalidate"
        denied = httpx.post(url, json={"tenant": "a"}, headers={"x-admin-key": "wrong"})
        unscoped = httpx.post(url, json={}, headers={"x-admin-key": ADMIN})
        done = httpx.post(url, json={"tenant": "a"}, headers={"authorization": f"Bearer {ADMIN}"})
        a = chat(router, "What is the capital of France?", KEY_A)
        b = chat(router, "What is the capital of France?", KEY_B)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_admin_key", "a wrong key is refused"
    assert unscoped.status_code == 400, "invalidating everything by accident is refused"
    assert done.status_code == 200 and done.json()["removed"] == 1, "tenant a's entry is removed"
    assert a.headers["x-frugal-cache"] == "miss" and b.headers["x-frugal-cache"] == "hit-exact", (
        "only tenant a was invalidated"
    )
