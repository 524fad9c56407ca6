"""The load-balancing blocks wired into the router, in process: replicas of one tier served by
scriptable fakes (tests/runtime/inprocess.py), admission, scale from zero, continuation, drain."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from runtime.accounting import TierPrice, prompt_token_bound
from tests.runtime.conftest import KEY_A, KEY_B, config
from tests.runtime.inprocess import InProcessLlama, in_process

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {KEY_A}"}
MESSAGES = [{"role": "user", "content": "Hi"}]
CHAT: dict[str, Any] = {"model": "small", "messages": MESSAGES}
PRICE = TierPrice(Decimal("0.01"), Decimal("0.02"))


def replicated(*fakes: InProcessLlama, **extra: Any) -> dict[str, Any]:
    return {
        "name": "small",
        "replicas": {"urls": [f.url for f in fakes], "refresh_s": 60},
        "price": {"prompt_per_1k": "0.01", "completion_per_1k": "0.02"},
        **extra,
    }


def tenants() -> list[dict[str, Any]]:
    return [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "10"}]


def sse_chunks(body: bytes) -> list[dict[str, Any]]:
    out = []
    for event in body.split(b"\n\n"):
        if event.startswith(b"data: {"):
            out.append(orjson.loads(event[6:]))
    return out


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


async def test_a_stream_cut_mid_answer_is_continued_on_the_other_replica_and_each_call_is_charged(
    tmp_path: Path,
) -> None:
    a, b = InProcessLlama("replica-a"), InProcessLlama("replica-b")
    a.slots, b.slots = 2, 1  # a has the most free slots: it takes the request
    a.mode = "crash"  # one chunk ("Hel"), then the connection is lost
    settings = config([replicated(a, b)], tmp_path, tenants=tenants())
    async with in_process(settings, a, b) as router:
        r = await router.client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH)
        metrics = (await router.client.get("/metrics")).text
        spend = await router.rt.budget.spend("a")
        replica_a = router.rt.gateway.gate("small").replicas.replicas[a.url]
    chunks = sse_chunks(r.content)
    assert r.status_code == 200 and text_of(chunks) == "Hello!", f"one whole answer, nothing repeated: {r.text}"
    assert r.content.endswith(b"data: [DONE]\n\n"), "the stream ends normally"
    assert not any(b"error" in e for e in r.content.split(b"\n\n")), "the client never saw the failure"
    finals = [c for c in chunks if c.get("choices") and c["choices"][0].get("finish_reason")]
    assert finals and finals[-1]["frugal"] == {"continued": 1}, f"the final chunk says it was continued: {finals}"
    assert b": x-frugal-continued=1" in r.content, "and so does an SSE comment before [DONE]"
    assert 'frugal_continuations_total{tier="small"} 1.0' in metrics, "the continuation is counted"
    cont = b.requests[-1]
    assert cont["messages"][-1] == {"role": "assistant", "content": "Hel"}, "b continues the text a had sent"
    assert cont["max_tokens"] == 512 - 1, "b may produce only the tokens a had not"
    assert not replica_a.ready, "the replica that failed is out of rotation until a probe says otherwise"
    cut = min(PRICE.cost(prompt_token_bound(MESSAGES), 1), PRICE.cost(prompt_token_bound(MESSAGES), 512))
    last = PRICE.cost(12, 3)  # the usage b reported
    assert spend.day_usd == cut + last, f"cut call by its chunks + last call by usage = {cut + last}, {spend}"


async def test_a_whole_answer_is_retried_on_another_replica_of_the_tier_after_a_503(tmp_path: Path) -> None:
    a, b = InProcessLlama("replica-a"), InProcessLlama("replica-b")
    a.slots, b.slots = 2, 1
    a.mode = "503"
    async with in_process(config([replicated(a, b)], tmp_path), a, b) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT)
        replica_a = router.rt.gateway.gate("small").replicas.replicas[a.url]
        breaker = router.rt.tiers["small"].breaker.consecutive
    assert r.status_code == 200, f"the other replica answered: {r.status_code} {r.text}"
    assert len(a.requests) == 1 and len(b.requests) == 1, "one call each: a refused, b answered"
    assert r.headers["x-frugal-fallback"] == "0", "a replica retry within the tier is not a fallback"
    assert replica_a.draining, "a replica answering 503 after being ready is draining"
    assert breaker == 0, "the tier answered: its circuit breaker counts no failure"


async def test_ten_times_more_requests_than_slots_and_queue_get_429_with_retry_after_and_the_rest_succeed(
    tmp_path: Path,
) -> None:
    a, b = InProcessLlama("replica-a"), InProcessLlama("replica-b")
    a.slots = b.slots = 1
    a.mode = b.mode = "slow"
    a.delay = b.delay = 0.2
    tier = replicated(a, b, admission={"max_queue": 2, "max_wait_s": 10})
    async with in_process(config([tier], tmp_path), a, b) as router:
        rs = await asyncio.gather(*(router.client.post("/v1/chat/completions", json=CHAT) for _ in range(40)))
        queued = router.rt.gateway.gate("small").admission.queued
    ok = [r for r in rs if r.status_code == 200]
    refused = [r for r in rs if r.status_code == 429]
    assert len(ok) == 4, f"2 slots + 2 queued are served ({[r.status_code for r in rs]})"
    assert len(refused) == 36, "the other 36 are refused"
    assert all(r.json()["error"]["code"] == "overloaded" for r in refused), "OpenAI's rate-limit shape"
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused), "every refusal says when to come back"
    assert len(a.requests) + len(b.requests) == 4, "refused requests never reach a replica"
    assert queued == 0, "the queue is empty afterwards"


async def test_a_full_tier_grants_its_next_free_slot_to_the_higher_priority_tenant_first(tmp_path: Path) -> None:
    a = InProcessLlama("replica-a")
    a.slots = 1
    a.mode, a.delay = "slow", 0.2
    people = [
        {"name": "batch", "keys": [{"key": KEY_A}], "priority": 0},
        {"name": "interactive", "keys": [{"key": KEY_B}], "priority": 10},
    ]
    order: list[str] = []
    async with in_process(config([replicated(a)], tmp_path, tenants=people), a) as router:

        async def ask(key: str, who: str) -> int:
            r = await router.client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"})
            order.append(who)
            return r.status_code

        holder = asyncio.create_task(ask(KEY_A, "holder"))
        await asyncio.sleep(0.05)  # the one slot is taken
        low = asyncio.create_task(ask(KEY_A, "batch"))
        await asyncio.sleep(0.05)  # the batch request queues first
        high = asyncio.create_task(ask(KEY_B, "interactive"))
        statuses = await asyncio.gather(holder, low, high)
    assert statuses == [200, 200, 200], f"everyone is served in the end: {statuses}"
    assert order == ["holder", "interactive", "batch"], (
        f"the interactive tenant, queued later with a higher priority, gets the freed slot first: {order}"
    )


async def test_a_tier_at_zero_replicas_queues_until_one_is_ready_and_else_answers_503_with_retry_after(
    tmp_path: Path,
) -> None:
    a = InProcessLlama("replica-a")
    a.health = 503  # loading: never ready yet
    tier = replicated(a, admission={"wake_s": 0.3})
    async with in_process(config([tier], tmp_path), a) as router:
        asleep = await router.client.post("/v1/chat/completions", json=CHAT)
        waiting = asyncio.ensure_future(router.client.post("/v1/chat/completions", json=CHAT))
        gate = router.rt.gateway.gate("small")
        while gate.admission.queued == 0:
            await asyncio.sleep(0.01)
        figures = orjson.loads((await router.client.get("/internal/queue")).content)
        scaling = orjson.loads((await router.client.get("/internal/scaling/small")).content)
        unknown = await router.client.get("/internal/scaling/nope")
        a.health = 200  # the replica finished loading; the next probe sees it
        gate.admission.wake_s = 30
        await gate.refresh_now()
        woken = await waiting
    assert asleep.status_code == 503, f"no replica within the wake time: 503, never 404 ({asleep.status_code})"
    assert asleep.json()["error"]["code"] == "tier_unavailable", "the error names the cause"
    assert int(asleep.headers["retry-after"]) >= 1, "and says when to come back"
    assert figures["tiers"]["small"]["queued"] == 1, f"KEDA sees the waiting request: {figures}"
    assert scaling["tier"] == "small" and scaling["queued"] == 1 and scaling["ready_replicas"] == 0, scaling
    assert scaling["demand"] == scaling["in_flight"] + scaling["queued"] >= 1, (
        f"the stack's KEDA trigger reads `demand`: a queued request wakes a tier at zero ({scaling})"
    )
    assert unknown.status_code == 404, "an unknown tier is an OpenAI-shaped 404, not a zero that scales nothing"
    assert woken.status_code == 200, f"a request waiting while the tier woke is served ({woken.text})"


async def test_a_drain_refuses_new_requests_with_503_and_lets_the_one_in_flight_finish(tmp_path: Path) -> None:
    a = InProcessLlama("replica-a")
    a.mode, a.delay = "slow", 0.3
    drained: list[bool] = []
    async with in_process(config([replicated(a)], tmp_path), a, on_drained=drained.append) as router:
        in_flight = asyncio.ensure_future(router.client.post("/v1/chat/completions", json=CHAT))
        while not a.requests:
            await asyncio.sleep(0.01)
        status = (await router.client.post("/internal/drain")).json()
        ready = await router.client.get("/readyz")
        refused = await router.client.post("/v1/chat/completions", json=CHAT)
        finished = await in_flight
        for _ in range(100):
            if drained:
                break
            await asyncio.sleep(0.01)
    assert status["draining"] and status["in_flight"] == 1, f"the drain started with one request held: {status}"
    assert ready.status_code == 503, "not ready as soon as the drain starts"
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "draining", "new requests are refused"
    assert int(refused.headers["retry-after"]) >= 1, "with a Retry-After"
    assert finished.status_code == 200, "the request in flight finished"
    assert drained == [True], "the server is told to exit once drained, with nothing dropped"


async def test_identical_deterministic_requests_in_flight_make_one_upstream_call_and_one_cache_write(
    tmp_path: Path,
) -> None:
    a = InProcessLlama("replica-a")
    a.slots = 8
    a.mode, a.delay = "slow", 0.2
    body = {**CHAT, "temperature": 0}
    async with in_process(config([replicated(a)], tmp_path), a) as router:
        rs = await asyncio.gather(*(router.client.post("/v1/chat/completions", json=body) for _ in range(8)))
        later = await router.client.post("/v1/chat/completions", json=body)
        flights = router.rt.gateway.flights
    assert all(r.status_code == 200 for r in rs), f"every caller is answered: {[r.status_code for r in rs]}"
    assert len(a.requests) == 1, f"8 identical requests in flight made {len(a.requests)} upstream call(s), not 1"
    assert len({r.content for r in rs}) == 1, "every caller got the same answer"
    assert sum(r.headers.get("x-frugal-shared") == "1" for r in rs) == 7, "7 were served by the one call"
    assert all(r.headers["x-frugal-cost-usd"] == "0" for r in rs if r.headers.get("x-frugal-shared")), (
        "a shared answer is not charged again"
    )
    assert flights.calls == 1 and flights.shared == 7, f"one flight, seven riders ({flights.calls}, {flights.shared})"
    assert later.headers["x-frugal-cache"] == "hit-exact", "the answer was stored once and is now a cache hit"


async def test_identical_deterministic_streams_in_flight_share_one_upstream_stream_and_each_caller_gets_all_of_it(
    tmp_path: Path,
) -> None:
    a = InProcessLlama("replica-a")
    a.slots = 8
    a.mode, a.delay = "slow", 0.2
    body = {**CHAT, "temperature": 0, "stream": True}
    async with in_process(config([replicated(a)], tmp_path), a) as router:
        rs = await asyncio.gather(*(router.client.post("/v1/chat/completions", json=body) for _ in range(5)))
        await asyncio.sleep(0.2)  # the flight stores the answer after its last chunk
        later = await router.client.post("/v1/chat/completions", json={**body, "stream": False})
        flights = router.rt.gateway.flights
    assert all(r.status_code == 200 for r in rs), f"every caller is answered: {[r.status_code for r in rs]}"
    assert len(a.requests) == 1, f"5 identical streams in flight made {len(a.requests)} upstream call(s), not 1"
    texts = {text_of(sse_chunks(r.content)) for r in rs}
    assert texts == {"Hello!"}, f"every caller got the whole text, once: {texts}"
    assert all(r.content.rstrip().endswith(b"data: [DONE]") for r in rs), "every stream ends normally"
    riders = [r for r in rs if r.headers.get("x-frugal-shared") == "1"]
    assert len(riders) == 4, f"4 rode on the one stream, got {len(riders)}"
    assert all(r.headers["x-frugal-cost-usd-max"] == "0" for r in riders), "a rider reserves nothing"
    assert all(b": x-frugal-cost-usd=0\n\n" in r.content for r in riders), "a rider's closing cost comment says 0"
    payer = next(r for r in rs if r.headers.get("x-frugal-shared") is None)
    paid = re.search(rb": x-frugal-cost-usd=([0-9.]+)", payer.content)
    assert paid is not None and Decimal(paid.group(1).decode()) > 0, "the caller whose call ran is charged"
    assert flights.calls == 1 and flights.shared == 4, f"one flight, four riders ({flights.calls}, {flights.shared})"
    assert later.headers["x-frugal-cache"] == "hit-exact", "the shared stream was stored once and now answers"


async def test_a_shared_stream_goes_on_for_the_riders_when_the_first_caller_hangs_up(tmp_path: Path) -> None:
    a = InProcessLlama("replica-a")
    a.slots = 8
    a.mode, a.delay = "slow", 0.3
    body = {**CHAT, "temperature": 0, "stream": True}
    async with in_process(config([replicated(a)], tmp_path), a) as router:

        async def first_then_hang_up() -> None:
            async with router.client.stream("POST", "/v1/chat/completions", json=body) as r:
                async for _ in r.aiter_bytes():
                    return  # gone after the first bytes

        leaving = asyncio.create_task(first_then_hang_up())
        await asyncio.sleep(0.05)  # the first caller's flight is under way
        riders = await asyncio.gather(*(router.client.post("/v1/chat/completions", json=body) for _ in range(2)))
        await leaving
    assert len(a.requests) == 1, f"the riders joined the first caller's stream: {len(a.requests)} upstream calls"
    for r in riders:
        assert r.status_code == 200 and text_of(sse_chunks(r.content)) == "Hello!", (
            f"a rider got the whole answer although the first caller left: {r.status_code} {r.content[:200]!r}"
        )


async def test_a_sampled_request_is_never_shared(tmp_path: Path) -> None:
    a = InProcessLlama("replica-a")
    a.slots = 8
    a.mode, a.delay = "slow", 0.1
    body = {**CHAT, "temperature": 0.8}
    async with in_process(config([replicated(a)], tmp_path), a) as router:
        rs = await asyncio.gather(*(router.client.post("/v1/chat/completions", json=body) for _ in range(3)))
    assert all(r.status_code == 200 for r in rs), "every caller is answered"
    assert len(a.requests) == 3, "two sampled answers are not interchangeable: one call each"


async def test_a_streamed_answer_is_stored_in_the_cache_and_answers_the_next_identical_request(
    tmp_path: Path,
) -> None:
    a = InProcessLlama("replica-a")
    body = {**CHAT, "temperature": 0}
    async with in_process(config([replicated(a)], tmp_path), a) as router:
        streamed = await router.client.post("/v1/chat/completions", json={**body, "stream": True})
        await asyncio.sleep(0.2)  # the store runs in a task after the stream's last chunk
        hit = await router.client.post("/v1/chat/completions", json=body)
    assert streamed.status_code == 200 and streamed.headers["x-frugal-cache"] == "miss", "the stream went upstream"
    assert hit.headers["x-frugal-cache"] == "hit-exact", f"the streamed answer was stored ({hit.headers})"
    assert len(a.requests) == 1, "the second request never reached the replica"
    message = hit.json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Hello!", "refusal": None}, (
        f"the whole streamed text was stored (and replayed in OpenAI's shape): {message}"
    )


class AtAddress(InProcessLlama):
    """A fake replica at a real address, so that a DNS name can resolve to it."""

    def __init__(self, address: str) -> None:
        super().__init__("dns")
        self.address = address

    @property
    def url(self) -> str:
        return f"http://{self.address}"


async def test_a_tier_found_by_dns_resolves_the_name_and_serves_from_the_address_it_answers(tmp_path: Path) -> None:
    a = AtAddress("127.0.0.1:18080")
    tier = {
        "name": "small",
        "replicas": {"dns": "localhost:18080", "refresh_s": 60},
        "price": {"prompt_per_1k": "0.01", "completion_per_1k": "0.02"},
    }
    async with in_process(config([tier], tmp_path), a) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT)
        found = sorted(router.rt.gateway.gate("small").replicas.replicas)
    assert "http://127.0.0.1:18080" in found, f"localhost resolved to the loopback address: {found}"
    assert r.status_code == 200 and len(a.requests) == 1, f"the replica found by DNS answered ({r.status_code})"


@pytest.mark.parametrize(
    ("tier", "message"),
    [
        ({"url": "http://x:8080", "replicas": {"urls": ["http://y:8080"]}}, "exactly one of `local`"),
        ({"replicas": {"urls": ["http://y:8080"], "dns": "y:8080"}}, "exactly one of `urls`"),
        ({"replicas": {"dns": "no-port"}}, "replicas.dns"),
        ({"replicas": {"urls": ["http://y:8080"]}, "admission": {"max_wait_s": 0}}, "admission.max_wait_s"),
    ],
)
def test_bad_replica_and_admission_settings_are_refused_with_the_key_and_the_fix(
    tier: dict[str, Any], message: str, tmp_path: Path
) -> None:
    from runtime.settings import SettingsError

    data = {"name": "small", "price": {"prompt_per_1k": "0", "completion_per_1k": "0"}, **tier}
    with pytest.raises(SettingsError, match=re.escape(message)):
        config([data], tmp_path)


def test_a_drain_grace_at_or_over_the_spot_notice_is_refused(tmp_path: Path) -> None:
    from runtime.settings import SettingsError

    tier = {"name": "small", "url": "http://x:1", "price": {"prompt_per_1k": "0", "completion_per_1k": "0"}}
    with pytest.raises(SettingsError, match="drain.grace_s"):
        config([tier], tmp_path, drain={"grace_s": 120})
