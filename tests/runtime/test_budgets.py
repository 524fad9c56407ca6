"""Budgets: atomic reservations never overspend under concurrency, and spend survives a restart."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from runtime.auth import TenantInfo
from runtime.budget import BudgetStore, BudgetStoreBusy, RedisBudgetStore, SQLiteBudgetStore
from runtime.errors import BudgetExceeded
from tests.redis_server import RedisServer
from tests.runtime.conftest import KEY_A, config, remote_tier, run_router
from tests.runtime.fake_llama import FakeLlama

BUDGET = Decimal("0.002")
TENANT = TenantInfo("a", BUDGET, Decimal("1"), None, False)


def _settings(fake: FakeLlama, tmp_path: Path, daily: str = str(BUDGET)):
    tiers = [remote_tier("cheap", fake.url, prompt="0.01", completion="0.01", default_max_tokens=10)]
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": daily}]
    return config(tiers, tmp_path, tenants=tenants, metrics={"budget_by_tenant": True})


def test_fifty_parallel_requests_against_a_small_budget_never_overspend(fake: FakeLlama, tmp_path: Path) -> None:
    fake.mode, fake.delay = "slow", 0.2
    with run_router(_settings(fake, tmp_path)) as router:

        async def one(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post(
                router.url + "/v1/chat/completions",
                json={"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]},
                headers={"authorization": f"Bearer {KEY_A}"},
            )

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=60)) as client:
                return await asyncio.gather(*(one(client) for _ in range(50)))

        responses = asyncio.run(burst()) + asyncio.run(burst())
        spend = asyncio.run(router.rt.budget.spend("a"))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) + len(refused) == 100, f"every request is answered or refused: {[r.status_code for r in responses]}"
    assert ok and refused, f"some fit the budget, the rest are refused ({len(ok)} ok)"
    charged = sum(Decimal(r.headers["x-frugal-cost-usd"]) for r in ok)
    assert spend.day_usd == charged, f"the ledger holds exactly what was charged ({spend.day_usd} vs {charged})"
    assert spend.day_usd <= BUDGET, f"spend {spend.day_usd} never exceeds the daily budget {BUDGET}"
    assert all(r.json()["error"]["type"] == "insufficient_quota" for r in refused), "refusals are OpenAI quota errors"


def test_spend_survives_a_restart_and_still_limits(fake: FakeLlama, tmp_path: Path) -> None:
    settings = _settings(fake, tmp_path, daily="0.0007")
    body = {"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]}
    auth = {"authorization": f"Bearer {KEY_A}"}
    with run_router(settings) as router:
        first = httpx.post(router.url + "/v1/chat/completions", json=body, headers=auth)
        assert first.status_code == 200, f"the first request fits: {first.text}"
        before = asyncio.run(router.rt.budget.spend("a")).day_usd
    with run_router(settings) as router:
        after = asyncio.run(router.rt.budget.spend("a")).day_usd
        second = httpx.post(router.url + "/v1/chat/completions", json=body, headers=auth)
        metrics = httpx.get(router.url + "/metrics").text
    assert before == after == Decimal("0.00017"), f"the spend was persisted across the restart ({before} -> {after})"
    assert second.status_code == 429, "with the old spend counted, the worst case no longer fits the budget"
    assert 'frugal_budget_remaining_usd{period="daily",tenant="a"}' in metrics, "the opt-in gauge is exported"


async def _hammer(store: BudgetStore, n: int, amount: Decimal, actual: Decimal) -> int:
    async def one() -> bool:
        try:
            res = await store.reserve(TENANT, amount)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0.001)
        await store.settle(res, actual)
        return True

    return sum(await asyncio.gather(*(one() for _ in range(n))))


def test_in_shared_mode_two_connections_never_overspend(tmp_path: Path) -> None:
    stores = [SQLiteBudgetStore(tmp_path / "shared.sqlite3", shared=True) for _ in range(2)]
    wins: list[int] = []

    def worker(store: SQLiteBudgetStore) -> None:
        wins.append(asyncio.run(_hammer(store, 100, Decimal("0.0001"), Decimal("0.0001"))))

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spend = asyncio.run(stores[0].spend("a"))
    assert sum(wins) == 20, f"exactly budget/amount = 20 reservations succeed across connections, got {wins}"
    assert spend.day_usd == BUDGET, f"the ledger reaches the budget and no further: {spend.day_usd}"


def test_the_exclusive_ledger_refuses_a_second_process_and_holds_under_concurrency(tmp_path: Path) -> None:
    store = SQLiteBudgetStore(tmp_path / "own.sqlite3")
    with pytest.raises(BudgetStoreBusy, match="budget.shared"):
        SQLiteBudgetStore(tmp_path / "own.sqlite3")
    won = asyncio.run(_hammer(store, 60, Decimal("0.0001"), Decimal("0.00004")))
    spend = asyncio.run(store.spend("a"))
    asyncio.run(store.close())
    reopened = asyncio.run(SQLiteBudgetStore(tmp_path / "own.sqlite3").spend("a"))
    assert won == 20, f"60 concurrent holds of $0.0001 against $0.002: exactly 20 fit ({won})"
    assert spend.day_usd == Decimal("0.0008"), f"20 settled at $0.00004 each ({spend.day_usd})"
    assert reopened == spend, "what was settled is on disk when the store is reopened"


def test_the_redis_store_reserves_atomically_and_refunds_on_settle(redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    other = TenantInfo("b", Decimal("1"), None, None, False)

    async def go() -> tuple[int, Decimal, Decimal, Decimal, Decimal]:
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
        return won, spent, held, settled, after_restart

    won, spent, held, settled, after_restart = asyncio.run(go())
    assert after_restart == spent, f"spend lives in Redis, not in the router process ({after_restart})"
    assert won == 20, f"60 concurrent reservations: exactly budget/amount = 20 fit ({won})"
    assert spent == BUDGET, f"the ledger reaches the budget and no further ({spent})"
    assert held == Decimal("0.0002"), f"an open reservation counts against the budget ({held})"
    assert settled == Decimal("0.00005"), f"settling replaces the reservation by the actual cost ({settled})"
