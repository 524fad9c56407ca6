"""Budgets: atomic reservations never overspend under concurrency, spend survives a restart, a
refusal is the store's 429, every reservation is settled or released, and budgets reset with the
UTC day (moved by the app's clock, not waited for)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from runtime.accounting import prompt_token_bound
from runtime.auth import TenantInfo
from runtime.budget import (
    BudgetStore,
    BudgetStoreBusy,
    ExclusiveSQLiteStore,
    RedisBudgetStore,
    SharedSQLiteStore,
    reserved,
)
from runtime.errors import BudgetExceeded
from runtime.settings import Settings
from tests.redis_server import RedisServer
from tests.runtime.conftest import KEY_A, config, remote_tier
from tests.runtime.inprocess import FakeClock, InProcessLlama, in_process

pytestmark = pytest.mark.anyio

BUDGET = Decimal("0.002")
TENANT = TenantInfo("a", BUDGET, Decimal("1"), None, False)
SCRAPER = "scraper-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY_A}"}
BODY = {"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]}


def _settings(llama: InProcessLlama, tmp_path: Path, daily: str = str(BUDGET)) -> Settings:
    tiers = [remote_tier("cheap", llama.url, prompt="0.01", completion="0.01", default_max_tokens=10)]
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": daily}]
    return config(tiers, tmp_path, tenants=tenants, metrics={"budget_by_tenant": True, "auth_key": {"key": SCRAPER}})


async def test_fifty_parallel_requests_against_a_small_budget_never_overspend(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode, llama.delay = "slow", 0.2
    async with in_process(_settings(llama, tmp_path), llama) as router:

        async def burst() -> list[httpx.Response]:
            return await asyncio.gather(
                *(router.client.post("/v1/chat/completions", json=BODY, headers=AUTH) for _ in range(50))
            )

        responses = await burst() + await burst()
        spend = await router.rt.budget.spend("a")
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) + len(refused) == 100, f"every request is answered or refused: {[r.status_code for r in responses]}"
    assert ok and refused, f"some fit the budget, the rest are refused ({len(ok)} ok)"
    charged = sum(Decimal(r.headers["x-frugal-cost-usd"]) for r in ok)
    assert spend.day_usd == charged, f"the ledger holds exactly what was charged ({spend.day_usd} vs {charged})"
    assert spend.day_usd <= BUDGET, f"spend {spend.day_usd} never exceeds the daily budget {BUDGET}"
    assert all(r.json()["error"]["type"] == "insufficient_quota" for r in refused), "refusals are OpenAI quota errors"


async def test_spend_survives_a_restart_and_still_limits(llama: InProcessLlama, tmp_path: Path) -> None:
    settings = _settings(llama, tmp_path, daily="0.0007")
    async with in_process(settings, llama) as router:
        first = await router.client.post("/v1/chat/completions", json=BODY, headers=AUTH)
        assert first.status_code == 200, f"the first request fits: {first.text}"
        before = (await router.rt.budget.spend("a")).day_usd
    async with in_process(settings, llama) as router:
        after = (await router.rt.budget.spend("a")).day_usd
        second = await router.client.post("/v1/chat/completions", json=BODY, headers=AUTH)
        metrics = (await router.client.get("/metrics", headers={"authorization": f"Bearer {SCRAPER}"})).text
    assert before == after == Decimal("0.00017"), f"the spend was persisted across the restart ({before} -> {after})"
    assert second.status_code == 429, "with the old spend counted, the worst case no longer fits the budget"
    assert 'frugal_budget_remaining_usd{period="daily",tenant="a"}' in metrics, "the opt-in gauge is exported"


async def test_auto_refuses_with_the_stores_429_when_no_tier_fits_the_remaining_budget(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    # Worst case of the cheapest tier: (prompt bound + 10 tokens) x $0.01/1k, above a $0.00001 budget.
    async with in_process(_settings(llama, tmp_path, daily="0.00001"), llama) as router:
        r = await router.client.post("/v1/chat/completions", json={**BODY, "model": "auto"}, headers=AUTH)
        spend = await router.rt.budget.spend("a")
    assert r.status_code == 429, f"nothing fits the budget: 429 ({r.status_code} {r.text})"
    error = r.json()["error"]
    assert error["type"] == "insufficient_quota" and error["code"] == "daily_budget_exceeded", (
        f"the refusal comes from the budget store and names the period: {error}"
    )
    assert "fix:" in error["message"], f"the message says how to fix it: {error['message']}"
    assert llama.requests == [], "a refused request never reaches a tier"
    assert spend.day_usd == 0, f"a refusal holds nothing ({spend.day_usd})"


async def test_a_failed_call_releases_its_reservation(llama: InProcessLlama, tmp_path: Path) -> None:
    llama.mode = "500"
    async with in_process(_settings(llama, tmp_path), llama) as router:
        r = await router.client.post("/v1/chat/completions", json=BODY, headers=AUTH)
        spend = await router.rt.budget.spend("a")
    assert r.status_code == 502, f"the upstream failed ({r.status_code})"
    assert spend.day_usd == 0, f"nothing is spent or held after a failed call ({spend.day_usd})"


async def test_a_stream_cut_short_is_charged_its_prompt_bound_and_the_chunks_sent(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "crash"
    async with in_process(_settings(llama, tmp_path), llama) as router:
        r = await router.client.post("/v1/chat/completions", json={**BODY, "stream": True}, headers=AUTH)
        spend = await router.rt.budget.spend("a")
    assert b'"error"' in r.content, "the cut is reported to the client"
    # One content chunk arrived before the cut: prompt bound x $0.01/1k + 1 token x $0.01/1k.
    expected = (Decimal(prompt_token_bound(BODY["messages"])) + 1) * Decimal("0.01") / 1000
    assert spend.day_usd == expected, f"the cut stream is charged {expected}, not the whole reservation ({spend})"


async def test_a_new_utc_day_resets_the_daily_budget(llama: InProcessLlama, tmp_path: Path) -> None:
    clock = FakeClock(wall=1_800_000_000.0)  # 2027-01-15 08:00 UTC
    async with in_process(_settings(llama, tmp_path, daily="0.0007"), llama, clock=clock) as router:
        first = await router.client.post("/v1/chat/completions", json=BODY, headers=AUTH)
        same_day = await router.client.post("/v1/chat/completions", json=BODY, headers=AUTH)
        clock.advance(16 * 3600)  # past 00:00 UTC
        next_day = await router.client.post("/v1/chat/completions", json=BODY, headers=AUTH)
    assert first.status_code == 200, f"the first request fits ({first.text})"
    assert same_day.status_code == 429, "the same day, the spend so far leaves too little"
    assert next_day.status_code == 200, f"after midnight UTC the daily budget is whole again ({next_day.text})"


async def _hammer(store: BudgetStore, n: int, amount: Decimal, actual: Decimal) -> int:
    async def one() -> bool:
        try:
            async with reserved(store, TENANT, amount) as hold:
                await asyncio.sleep(0.001)  # interleave the holders; the ledger must still be exact
                hold.charge(actual)
        except BudgetExceeded:
            return False
        return True

    return sum(await asyncio.gather(*(one() for _ in range(n))))


async def test_in_shared_mode_two_connections_never_overspend(tmp_path: Path) -> None:
    stores = [SharedSQLiteStore(tmp_path / "shared.sqlite3") for _ in range(2)]
    # Each store has its own connection and thread, so the two race on SQLite's lock like two processes.
    wins = await asyncio.gather(*(_hammer(s, 100, Decimal("0.0001"), Decimal("0.0001")) for s in stores))
    spend = await stores[0].spend("a")
    for s in stores:
        await s.close()
    assert sum(wins) == 20, f"exactly budget/amount = 20 reservations succeed across connections, got {wins}"
    assert spend.day_usd == BUDGET, f"the ledger reaches the budget and no further: {spend.day_usd}"


async def test_the_exclusive_ledger_refuses_a_second_process_and_holds_under_concurrency(tmp_path: Path) -> None:
    store = ExclusiveSQLiteStore(tmp_path / "own.sqlite3")
    with pytest.raises(BudgetStoreBusy, match="budget.shared"):
        ExclusiveSQLiteStore(tmp_path / "own.sqlite3")
    won = await _hammer(store, 60, Decimal("0.0001"), Decimal("0.00004"))
    spend = await store.spend("a")
    await store.close()
    again = ExclusiveSQLiteStore(tmp_path / "own.sqlite3")
    reopened = await again.spend("a")
    await again.close()
    assert won == 20, f"60 concurrent holds of $0.0001 against $0.002: exactly 20 fit ({won})"
    assert spend.day_usd == Decimal("0.0008"), f"20 settled at $0.00004 each ({spend.day_usd})"
    assert reopened == spend, "what was settled is on disk when the store is reopened"


async def test_a_reservation_left_by_an_error_is_released(tmp_path: Path) -> None:
    store = ExclusiveSQLiteStore(tmp_path / "own.sqlite3")
    with pytest.raises(RuntimeError, match="upstream blew up"):
        async with reserved(store, TENANT, Decimal("0.001")):
            assert (await store.spend("a")).day_usd == Decimal("0.001"), "the hold counts while the call runs"
            raise RuntimeError("upstream blew up")
    after = await store.spend("a")
    await store.close()
    assert after.day_usd == 0, f"leaving the scope without a charge releases the hold ({after.day_usd})"


async def test_the_redis_store_reserves_atomically_and_refunds_on_settle(redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    other = TenantInfo("b", Decimal("1"), None, None, False)
    client = aioredis.from_url(redis_server.url)
    store = RedisBudgetStore(client)
    won = await _hammer(store, 60, Decimal("0.0001"), Decimal("0.0001"))
    spent = (await store.spend("a")).day_usd
    res = await store.reserve(other, Decimal("0.0002"))
    held = (await store.spend("b")).day_usd
    await store.settle(res, Decimal("0.00005"))
    settled = (await store.spend("b")).day_usd
    await client.aclose()
    # A restarted router (a new client and store on the same Redis) sees the same ledger.
    client = aioredis.from_url(redis_server.url)
    after_restart = (await RedisBudgetStore(client).spend("a")).day_usd
    await client.aclose()
    assert after_restart == spent, f"spend lives in Redis, not in the router process ({after_restart})"
    assert won == 20, f"60 concurrent reservations: exactly budget/amount = 20 fit ({won})"
    assert spent == BUDGET, f"the ledger reaches the budget and no further ({spent})"
    assert held == Decimal("0.0002"), f"an open reservation counts against the budget ({held})"
    assert settled == Decimal("0.00005"), f"settling replaces the reservation by the actual cost ({settled})"
