"""The budget ledger when things die: holds released by expiry whatever killed their owner, a
real redis-server killed (SIGKILL), frozen (SIGSTOP) and restarted, a shared SQLite file with dead
holds, an exclusive ledger killed before its group commit. Every wait is bounded; loopback only."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.auth import TenantInfo
from runtime.budget import ExclusiveSQLiteStore, RedisBudgetStore, SharedSQLiteStore
from runtime.settings import Settings
from tests.redis_server import RedisServer
from tests.runtime.conftest import KEY_A, KEY_B, config, remote_tier
from tests.runtime.inprocess import InProcessLlama, in_process

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
TENANT = TenantInfo("a", Decimal("0.01"), Decimal("1"), None, False)
A = {"authorization": f"Bearer {KEY_A}"}
B = {"authorization": f"Bearer {KEY_B}"}
CHAT = {"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(aof_dir=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _child(code: str) -> subprocess.Popen[bytes]:
    """A router-like process that takes a hold and then waits to be killed."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
    )


def _wait_line(proc: subprocess.Popen[bytes], expected: bytes) -> None:
    assert proc.stdout is not None, "piped"
    line = proc.stdout.readline()
    assert line.strip() == expected, f"the child got as far as {expected!r}: {line!r}"


HOLD_ON_REDIS = """
    import asyncio, time
    from decimal import Decimal
    import redis.asyncio as aioredis
    from runtime.auth import TenantInfo
    from runtime.budget import RedisBudgetStore

    async def main():
        store = RedisBudgetStore(aioredis.from_url({url!r}), reservation_ttl_s=1)
        await store.reserve(TenantInfo("a", Decimal("0.01"), Decimal("1"), None, False), Decimal("0.005"))
        print("held", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
"""


async def test_a_hold_on_redis_is_released_by_expiry_after_its_router_is_killed(redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    child = _child(HOLD_ON_REDIS.format(url=redis_server.url))
    try:
        _wait_line(child, b"held")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert child.stdout is not None, "piped"
        child.stdout.close()
    client = aioredis.from_url(redis_server.url)
    store = RedisBudgetStore(client, reservation_ttl_s=1)
    try:
        held = (await store.spend("a")).day_usd
        await asyncio.sleep(1.2)
        after = await store.spend("a")
        whole = await store.reserve(TENANT, Decimal("0.01"))
    finally:
        await client.aclose()
    assert held == Decimal("0.005"), f"the dead router's hold counted while it was live ({held})"
    assert after.day_usd == after.month_usd == 0, f"expired, it holds nothing, day or month ({after})"
    assert whole.amount_nano == 10_000_000, "the whole daily budget can be reserved again"


async def test_a_redis_restart_with_holds_in_flight_keeps_settled_spend_and_no_dead_hold(
    persistent_redis: RedisServer,
) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(persistent_redis.url)
    store = RedisBudgetStore(client, reservation_ttl_s=1)
    done = await store.reserve(TENANT, Decimal("0.004"))
    await store.settle(done, Decimal("0.003"))
    await store.reserve(TENANT, Decimal("0.004"))  # in flight when Redis dies
    await client.aclose()
    persistent_redis.stop()  # SIGKILL
    persistent_redis.start()
    client = aioredis.from_url(persistent_redis.url)
    store = RedisBudgetStore(client, reservation_ttl_s=1)
    try:
        restarted = (await store.spend("a")).day_usd
        await asyncio.sleep(1.2)
        later = (await store.spend("a")).day_usd
        await store.settle(done, Decimal("0.003"))  # a retried settlement counts once
        again = (await store.spend("a")).day_usd
    finally:
        await client.aclose()
    assert restarted == Decimal("0.007"), f"settled spend and the live hold survived the SIGKILL ({restarted})"
    assert later == Decimal("0.003"), f"the hold expired; the settled spend stays ({later})"
    assert again == Decimal("0.003"), f"settling the same reservation twice counts once ({again})"


async def test_expired_holds_do_not_count_in_the_shared_sqlite_ledger(tmp_path: Path) -> None:
    dead = SharedSQLiteStore(tmp_path / "shared.sqlite3", reservation_ttl_s=0.3)
    await dead.reserve(TENANT, Decimal("0.01"))  # its process "dies": never settled
    live = SharedSQLiteStore(tmp_path / "shared.sqlite3", reservation_ttl_s=0.3)
    try:
        held = (await live.spend("a")).day_usd
        await asyncio.sleep(0.4)
        after = (await live.spend("a")).day_usd
    finally:
        await dead.close()
        await live.close()
    assert held == Decimal("0.01"), "a live hold counts"
    assert after == 0, f"an expired hold is not spend, even before a reservation purges it ({after})"


CRASH_BEFORE_GROUP_COMMIT = """
    import asyncio, os, signal
    from decimal import Decimal
    from pathlib import Path
    from runtime.auth import TenantInfo
    from runtime.budget import ExclusiveSQLiteStore, reserved

    async def main():
        store = ExclusiveSQLiteStore(Path({path!r}))
        tenant = TenantInfo("a", Decimal("1"), None, None, False)
        for _ in range(3):
            async with reserved(store, tenant, Decimal("0.002")) as hold:
                hold.charge(Decimal("0.001"))
        os.kill(os.getpid(), signal.SIGKILL)  # before the ledger's thread writes the batch

    asyncio.run(main())
"""


async def test_the_exclusive_ledger_keeps_settlements_made_just_before_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "own.sqlite3"
    child = _child(CRASH_BEFORE_GROUP_COMMIT.format(path=str(path)))
    assert child.wait(30) == -signal.SIGKILL, "the child died by SIGKILL"
    assert child.stdout is not None, "piped"
    child.stdout.close()
    store = ExclusiveSQLiteStore(path)
    spent = (await store.spend("a")).day_usd
    await store.close()
    assert spent == Decimal("0.003"), f"all three settlements survived the crash ({spent})"
    assert not list(tmp_path.glob("own.sqlite3.journal.*")), "a clean close leaves no journal behind"


def _redis_settings(llama: InProcessLlama, tmp_path: Path, url: str, **budget: object) -> Settings:
    tenants = [
        {"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "10"},
        {"name": "b", "keys": [{"key": KEY_B}]},  # no budget: never touches the ledger
    ]
    ledger = {
        "backend": "redis", "redis_url": url, "sqlite_path": str(tmp_path / "spend.sqlite3"),
        "call_timeout_s": 0.3, "unavailable_retry_s": 0.5, **budget,
    }  # fmt: skip
    tiers = [remote_tier("cheap", llama.url, prompt="0.01", completion="0.01", slots=64)]
    return config(tiers, tmp_path, tenants=tenants, budget=ledger)


async def test_a_killed_redis_ledger_fails_closed_fast_with_retry_after(
    llama: InProcessLlama, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with in_process(_redis_settings(llama, tmp_path, redis_server.url), llama) as router:
        redis_server.stop()
        t0 = time.monotonic()
        refused = await router.client.post("/v1/chat/completions", json=CHAT, headers=A)
        first = time.monotonic() - t0
        t0 = time.monotonic()
        again = await router.client.post("/v1/chat/completions", json=CHAT, headers=A)
        second = time.monotonic() - t0
        unbudgeted = await router.client.post("/v1/chat/completions", json=CHAT, headers=B)
        redis_server.start()
        await asyncio.sleep(0.6)  # the refusal window passes
        back = await router.client.post("/v1/chat/completions", json=CHAT, headers=A)
    for r in (refused, again):
        assert r.status_code == 503, f"no ledger: refused, not a 500 ({r.status_code} {r.text})"
        assert r.json()["error"]["code"] == "budget_ledger_unavailable", f"named: {r.json()}"
        assert int(r.headers["retry-after"]) >= 1, "says when to come back"
    assert first < 1.0 and second < 0.1, f"bounded: {first:.2f} s, then at once ({second:.3f} s)"
    assert unbudgeted.status_code == 200, "a tenant without a budget does not need the ledger"
    assert back.status_code == 200, f"the restarted Redis serves again: {back.text}"


async def test_a_frozen_redis_ledger_costs_a_bounded_wait_not_five_seconds(
    llama: InProcessLlama, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with in_process(_redis_settings(llama, tmp_path, redis_server.url), llama) as router:
        ok = await router.client.post("/v1/chat/completions", json=CHAT, headers=A)
        redis_server.freeze()
        try:
            t0 = time.monotonic()
            frozen = await asyncio.gather(
                *(router.client.post("/v1/chat/completions", json=CHAT, headers=A) for _ in range(20))
            )
            waited = time.monotonic() - t0
        finally:
            redis_server.thaw()
        await asyncio.sleep(0.6)
        thawed = await router.client.post("/v1/chat/completions", json=CHAT, headers=A)
    assert ok.status_code == 200, "a live ledger serves"
    assert {r.status_code for r in frozen} == {503}, f"frozen: refused {[r.status_code for r in frozen]}"
    assert waited < 1.5, f"20 requests against a frozen ledger were all answered within {waited:.2f} s"
    assert thawed.status_code == 200, f"after SIGCONT it serves again: {thawed.text}"


async def test_an_answer_whose_settlement_finds_redis_dead_is_billed_when_it_returns(
    llama: InProcessLlama, persistent_redis: RedisServer, tmp_path: Path
) -> None:
    llama.mode, llama.delay = "slow", 0.5
    settings = _redis_settings(llama, tmp_path, persistent_redis.url)
    async with in_process(settings, llama) as router:
        call = asyncio.ensure_future(router.client.post("/v1/chat/completions", json=CHAT, headers=A))
        await asyncio.sleep(0.2)  # reserved; the upstream is answering
        persistent_redis.stop()
        r = await call
        pending = router.rt.metrics.settlements_pending._value.get()
        persistent_redis.start()
        deadline = time.monotonic() + 5
        while router.rt.metrics.settlements_pending._value.get() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        spend = await router.rt.budget.spend("a")
    assert r.status_code == 200, f"the answer was delivered: {r.text}"
    assert pending == 1, "its settlement was journalled while Redis was down"
    assert spend.day_usd == Decimal(r.headers["x-frugal-cost-usd"]), f"and replayed once Redis was back ({spend})"


async def test_a_journalled_settlement_survives_a_router_restart(
    llama: InProcessLlama, redis_server: RedisServer, tmp_path: Path
) -> None:
    llama.mode, llama.delay = "slow", 0.4
    settings = _redis_settings(llama, tmp_path, redis_server.url)
    async with in_process(settings, llama) as router:
        call = asyncio.ensure_future(router.client.post("/v1/chat/completions", json=CHAT, headers=A))
        await asyncio.sleep(0.15)
        redis_server.freeze()
        r = await call
    redis_server.thaw()
    await asyncio.sleep(0.1)
    llama.mode = "ok"
    async with in_process(settings, llama) as router:
        deadline = time.monotonic() + 5
        while router.rt.metrics.settlements_pending._value.get() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        spend = await router.rt.budget.spend("a")
    assert r.status_code == 200, "answered"
    assert spend.day_usd == Decimal(r.headers["x-frugal-cost-usd"]), f"billed after the restart ({spend})"


async def test_more_concurrent_requests_than_redis_connections_wait_instead_of_failing(
    llama: InProcessLlama, redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = _redis_settings(llama, tmp_path, redis_server.url, redis_max_connections=4, call_timeout_s=5)
    async with in_process(settings, llama) as router:
        rs = await asyncio.gather(
            *(router.client.post("/v1/chat/completions", json=CHAT, headers=A) for _ in range(150))
        )
    statuses = [r.status_code for r in rs]
    assert statuses.count(200) == 150, f"150 requests over 4 connections all answered: {set(statuses)}"


async def test_admission_is_counted_before_the_ledger_is_awaited(
    llama: InProcessLlama, redis_server: RedisServer, tmp_path: Path
) -> None:
    llama.mode, llama.delay = "slow", 0.3
    settings = _redis_settings(llama, tmp_path, redis_server.url)
    tiers = [remote_tier("cheap", llama.url, prompt="0.01", completion="0.01", slots=2)]  # queue limit 4 x 2
    settings = settings.model_copy(update={"tiers": config(tiers, tmp_path).tiers})
    async with in_process(settings, llama) as router:
        rs = await asyncio.gather(
            *(router.client.post("/v1/chat/completions", json=CHAT, headers=A) for _ in range(100))
        )
    statuses = [r.status_code for r in rs]
    assert llama.peak <= 8, f"the upstream saw at most the queue limit of 8 at once, not {llama.peak}"
    assert statuses.count(200) >= 8 and statuses.count(429) > 0, f"the rest were told to retry: {set(statuses)}"
    assert all("retry-after" in r.headers for r in rs if r.status_code == 429), "every 429 says when"

