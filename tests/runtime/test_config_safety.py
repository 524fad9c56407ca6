"""Config and protocol safety: one key one tenant, strong admin keys, budget gauges only behind a key,
max_cost_usd honoured for a named tier, a non-SSE 200 stream is a tier failure, every 429/503 says
when to come back, and the graceful stop bound is configurable."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from runtime.auth import key_digest
from runtime.budget.ledger import seconds_until_reset
from runtime.routing import OPEN
from runtime.settings import SettingsError
from tests.runtime.conftest import KEY_A, KEY_B, config, remote_tier, run_router
from tests.runtime.fake_llama import FakeLlama
from tests.runtime.inprocess import FakeClock, InProcessLlama, in_process

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {KEY_A}"}
CHAT = {"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]}
SCRAPER = "scraper-key-0123456789"


def _tier(llama: InProcessLlama | FakeLlama, name: str = "cheap", **extra: object) -> dict[str, object]:
    return remote_tier(name, llama.url, prompt="0.01", completion="0.01", **extra)


def test_the_same_key_for_two_tenants_is_refused_at_load_naming_both(tmp_path: Path) -> None:
    digest = hashlib.sha256(KEY_A.encode()).hexdigest()
    tenants = [
        {"name": "alice", "keys": [{"key": KEY_A}]},
        {"name": "bob", "keys": [{"key": KEY_B}, {"sha256": digest}]},
    ]
    with pytest.raises(SettingsError) as err:
        config([remote_tier("t", "http://x", prompt="1", completion="1")], tmp_path, tenants=tenants)
    assert "'alice' and 'bob' have the same API key" in str(err.value), f"both tenants are named: {err.value}"


def test_a_short_admin_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        config([remote_tier("t", "http://x", prompt="1", completion="1")], tmp_path, cache={"admin_key": "x"})
    assert "cache.admin_key" in str(err.value) and "16" in str(err.value), f"the key path and rule: {err.value}"


def test_per_tenant_budget_gauges_need_a_metrics_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        config([remote_tier("t", "http://x", prompt="1", completion="1")], tmp_path, metrics={"budget_by_tenant": True})
    assert "metrics.auth_key" in str(err.value), f"the fix is named: {err.value}"


async def test_metrics_with_a_key_are_refused_without_it_and_served_with_it(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "1"}]
    metrics = {"budget_by_tenant": True, "auth_key": {"sha256": key_digest(SCRAPER).hex()}}
    async with in_process(config([_tier(llama)], tmp_path, tenants=tenants, metrics=metrics), llama) as router:
        anonymous = await router.client.get("/metrics")
        wrong = await router.client.get("/metrics", headers=AUTH)
        scraper = await router.client.get("/metrics", headers={"authorization": f"Bearer {SCRAPER}"})
    assert anonymous.status_code == wrong.status_code == 401, "no key or a tenant's key gets no budgets"
    assert "frugal_budget_remaining_usd" not in anonymous.text + wrong.text, "the budgets do not leak in errors"
    assert scraper.status_code == 200 and 'tenant="a"' in scraper.text, "the scraper's key reads the gauges"


async def test_max_cost_usd_on_a_named_tier_is_refused_with_the_estimated_cost(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tiers = [_tier(llama, fallbacks=["dear"]), remote_tier("dear", llama2.url, prompt="10", completion="10")]
    async with in_process(config(tiers, tmp_path), llama, llama2) as router:
        over = await router.client.post(
            "/v1/chat/completions", json=CHAT, headers={"x-frugal-max-cost-usd": "0.000001"}
        )
        llama.mode = "500"
        fits = await router.client.post("/v1/chat/completions", json=CHAT, headers={"x-frugal-max-cost-usd": "0.01"})
    err = over.json()["error"]
    assert over.status_code == 400 and err["code"] == "max_cost_unmet", f"refused: {over.status_code} {err}"
    assert "may cost up to $0.00" in err["message"], f"the estimate is given: {err['message']}"
    assert llama2.requests == [], "the fallback over the client's limit was not tried"
    assert fits.status_code == 502, f"the named tier failed and no affordable fallback was left: {fits.text}"


async def test_a_stream_answered_200_with_a_non_sse_body_falls_back(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "not-sse"
    tiers = [_tier(llama, fallbacks=["second"]), _tier(llama2, "second")]
    async with in_process(config(tiers, tmp_path), llama, llama2) as router:
        r = await router.client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 200 and r.headers["x-frugal-tier"] == "second", f"the second tier answered: {r.headers}"
    assert r.headers["x-frugal-fallback"] == "cheap:upstream_not_sse", "the garbage is a named tier failure"
    assert b'"object":"chat.completion"' not in r.content, "the non-SSE body was not relayed"


async def test_a_budget_refusal_says_to_come_back_when_the_day_resets(llama: InProcessLlama, tmp_path: Path) -> None:
    clock = FakeClock(wall=1_800_000_000.0)
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "0.0000001"}]
    async with in_process(config([_tier(llama)], tmp_path, tenants=tenants), llama, clock=clock) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert r.status_code == 429, f"over budget: {r.text}"
    assert r.headers["retry-after"] == str(86400 - 1_800_000_000 % 86400), "seconds to 00:00 UTC"


def test_a_monthly_refusal_waits_for_the_first_of_the_next_month() -> None:
    dec31 = datetime(2026, 12, 31, 23, tzinfo=UTC).timestamp()
    assert seconds_until_reset("monthly_budget_exceeded", dec31) == 3600, "the year rolls over"


async def test_overload_and_unavailability_carry_retry_after(llama: InProcessLlama, tmp_path: Path) -> None:
    settings = config([_tier(llama)], tmp_path, routing={"circuit_cooldown_s": 7})
    async with in_process(settings, llama) as router:
        tier = router.rt.tiers["cheap"]
        admission = router.rt.gateway.gates["cheap"].admission  # every slot busy, no room in the queue
        admission.in_flight, admission.max_queue = admission.capacity(), 0
        overloaded = await router.client.post("/v1/chat/completions", json=CHAT)
        admission.in_flight, admission.max_queue = 0, 64
        tier.breaker.state, tier.breaker.opened_at = OPEN, math.inf  # open, still cooling down
        down = await router.client.post("/v1/chat/completions", json=CHAT)
        tier.ready = False
        ready = await router.client.get("/readyz")
        tier.ready = True
        tier.breaker.on_success()
        llama.mode = "503"
        upstream = await router.client.post("/v1/chat/completions", json=CHAT)
    for name, r in (("overloaded", overloaded), ("down", down), ("readyz", ready), ("upstream 503", upstream)):
        assert r.status_code in (429, 503), f"{name}: {r.status_code}"
        assert int(r.headers.get("retry-after", "0")) >= 1, f"{name} says when to come back: {r.headers}"
    assert overloaded.headers["retry-after"] == "1", "a full queue drains fast"
    assert down.headers["retry-after"] == "7", "nothing is up: wait for a circuit's cool-down"


def test_the_graceful_stop_bound_is_configurable(fake: FakeLlama, tmp_path: Path) -> None:
    fake.mode, fake.delay = "slow", 30
    settings = config([_tier(fake, timeout_s=60)], tmp_path, server={"shutdown_grace_s": 1})
    with run_router(settings) as router:
        thread = threading.Thread(
            target=lambda: httpx.post(router.url + "/v1/chat/completions", json=CHAT, timeout=60), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while router.rt.tiers["cheap"].in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert router.rt.tiers["cheap"].in_flight == 1, "a request is in flight when the stop begins"
        t0 = time.monotonic()
    stopped = time.monotonic() - t0
    assert stopped < 5, f"the stop took {stopped:.1f} s with a 1 s grace (the default is 15 s)"
    assert Decimal(settings.server.shutdown_grace_s) == 1, "the setting was read"
