"""Upstream faults through the router: each maps to the right status, falls back, or trips a breaker.

Status mapping, fallback and breakers run in process (fake tiers behind the upstream seam, a fake
clock for cooldowns). What needs a real socket stays on one: aiohttp's timeouts, a refused
connection, a stream stalled or dropped mid-way, and a client hanging up.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from runtime.routing import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from runtime.supervisor import free_port
from tests.runtime.conftest import config, remote_tier, run_router
from tests.runtime.fake_llama import FakeLlama
from tests.runtime.inprocess import FakeClock, InProcessLlama, in_process

CHAT = {"model": "primary", "messages": [{"role": "user", "content": "Hi"}]}


def _error(r: httpx.Response) -> dict[str, object]:
    body = r.json()
    assert set(body) == {"error"}, f"OpenAI-shaped error body: {body}"
    assert set(body["error"]) == {"message", "type", "param", "code"}, f"all four error fields: {body}"
    return body["error"]


@pytest.mark.anyio
async def test_an_upstream_500_is_a_502_with_an_openai_shaped_body(llama: InProcessLlama, tmp_path: Path) -> None:
    llama.mode = "500"
    settings = config([remote_tier("primary", llama.url, prompt="0.01", completion="0.01")], tmp_path)
    async with in_process(settings, llama) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 502, f"an upstream 5xx is a bad gateway: {r.status_code}"
    assert _error(r)["code"] == "upstream_error", "the code says the upstream failed"


def test_an_upstream_timeout_is_a_504(fake: FakeLlama, tmp_path: Path) -> None:
    fake.mode, fake.delay = "slow", 3
    tier = remote_tier("primary", fake.url, prompt="0.01", completion="0.01", timeout_s=0.3)
    with run_router(config([tier], tmp_path)) as router:
        t0 = time.monotonic()
        r = httpx.post(router.url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 504, f"a slow upstream is a gateway timeout: {r.status_code} {r.text}"
    assert time.monotonic() - t0 < 2.5, "the router gave up at the tier's timeout, not the upstream's pace"
    assert _error(r)["code"] == "upstream_timeout", "the code names the timeout"


def test_connection_refused_is_a_502_naming_the_connection(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with run_router(config([remote_tier("primary", dead, prompt="0.01", completion="0.01")], tmp_path)) as router:
        r = httpx.post(router.url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 502, f"nobody listening is a bad gateway: {r.status_code}"
    assert _error(r)["code"] == "upstream_connect", "the code says the connection failed"


@pytest.mark.anyio
async def test_an_upstream_4xx_passes_through_without_fallback(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "400"
    tiers = [
        remote_tier("primary", llama.url, prompt="0.01", completion="0.01", fallbacks=["backup"]),
        remote_tier("backup", llama2.url, prompt="0.01", completion="0.01"),
    ]
    async with in_process(config(tiers, tmp_path), llama, llama2) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 400, f"the upstream's 400 (context too long) is the client's problem: {r.status_code}"
    assert "context size" in str(_error(r)["message"]), "the upstream's message is kept"
    assert llama2.requests == [], "a request the upstream rejected is not retried elsewhere"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["500", "503"])
async def test_a_failing_tier_falls_back_to_the_next_and_says_so(
    mode: str, llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = mode
    tiers = [
        remote_tier("primary", llama.url, prompt="0.01", completion="0.01", fallbacks=["backup"]),
        remote_tier("backup", llama2.url, prompt="0.02", completion="0.02"),
    ]
    async with in_process(config(tiers, tmp_path), llama, llama2) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT)
        metrics = (await router.client.get("/metrics")).text
    assert 'frugal_fallbacks_total{from_tier="primary"} 1.0' in metrics, (
        "the fallback is counted under the failing tier"
    )
    assert r.status_code == 200, f"the backup answered: {r.status_code} {r.text}"
    assert r.headers["x-frugal-tier"] == "backup", "the tier that answered is the backup"
    assert r.headers["x-frugal-fallback"].startswith("primary:"), "the header names the tier that failed and why"


def test_a_refused_connection_falls_back_to_the_next_and_says_so(fake2: FakeLlama, tmp_path: Path) -> None:
    tiers = [
        remote_tier(
            "primary", f"http://127.0.0.1:{free_port()}", prompt="0.01", completion="0.01", fallbacks=["backup"]
        ),
        remote_tier("backup", fake2.url, prompt="0.02", completion="0.02"),
    ]
    with run_router(config(tiers, tmp_path)) as router:
        r = httpx.post(router.url + "/v1/chat/completions", json=CHAT)
        metrics = httpx.get(router.url + "/metrics").text
    assert 'frugal_fallbacks_total{from_tier="primary"} 1.0' in metrics, (
        "the fallback is counted under the failing tier"
    )
    assert r.status_code == 200, f"the backup answered: {r.status_code} {r.text}"
    assert r.headers["x-frugal-tier"] == "backup", "the tier that answered is the backup"
    assert r.headers["x-frugal-fallback"] == "primary:upstream_connect", "the header names the tier that failed and why"


@pytest.mark.anyio
async def test_the_circuit_opens_after_repeated_failures_and_skips_the_tier(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "500"
    tiers = [
        remote_tier("primary", llama.url, prompt="0.01", completion="0.01", fallbacks=["backup"]),
        remote_tier("backup", llama2.url, prompt="0.02", completion="0.02"),
    ]
    settings = config(tiers, tmp_path, routing={"circuit_failures": 2, "circuit_cooldown_s": 60})
    async with in_process(settings, llama, llama2) as router:
        for _ in range(2):
            await router.client.post("/v1/chat/completions", json=CHAT)
        calls_before = len(llama.requests)
        r = await router.client.post("/v1/chat/completions", json=CHAT)
        metrics = (await router.client.get("/metrics")).text
    assert calls_before == 2, "two failing calls reached the primary"
    assert len(llama.requests) == 2, "with the circuit open the primary is not called again"
    assert r.headers["x-frugal-tier"] == "backup", "the open circuit sends traffic to the backup"
    assert 'frugal_circuit_state{tier="primary"} 1.0' in metrics, "the metric shows the open circuit"


@pytest.mark.anyio
async def test_after_the_cooldown_one_trial_reaches_the_tier_and_a_success_closes_the_circuit(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "500"
    tiers = [
        remote_tier("primary", llama.url, prompt="0.01", completion="0.01", fallbacks=["backup"]),
        remote_tier("backup", llama2.url, prompt="0.02", completion="0.02"),
    ]
    settings = config(tiers, tmp_path, routing={"circuit_failures": 2, "circuit_cooldown_s": 60})
    clock = FakeClock()
    async with in_process(settings, llama, llama2, clock=clock) as router:
        for _ in range(2):
            await router.client.post("/v1/chat/completions", json=CHAT)
        clock.advance(59)
        still_open = await router.client.post("/v1/chat/completions", json=CHAT)
        llama.mode = "ok"
        clock.advance(2)
        trial = await router.client.post("/v1/chat/completions", json=CHAT)
        metrics = (await router.client.get("/metrics")).text
    assert still_open.headers["x-frugal-tier"] == "backup", "before the cooldown ends the circuit stays open"
    assert len(llama.requests) == 3, "after the cooldown exactly one more call reached the primary"
    assert trial.headers["x-frugal-tier"] == "primary", "the trial call succeeded on the primary"
    assert 'frugal_circuit_state{tier="primary"} 0.0' in metrics, "a successful trial closes the circuit"


def test_a_breaker_half_opens_after_cooldown_and_closes_on_success() -> None:
    b = CircuitBreaker(failures=2, cooldown_s=5)
    b.on_failure(now=0)
    assert b.state == CLOSED and b.allows(now=0), "one failure does not open the circuit"
    b.on_failure(now=1)
    assert b.state == OPEN and not b.allows(now=2), "two consecutive failures open it"
    assert b.allows(now=6.5) and b.state == HALF_OPEN, "after the cooldown one trial is allowed"
    b.on_attempt()
    assert not b.allows(now=6.6), "only one trial call at a time while half-open"
    b.on_failure(now=7)
    assert b.state == OPEN and not b.allows(now=8), "a failed trial reopens the circuit"
    assert b.allows(now=12.5), "and a new cooldown starts"
    b.on_attempt()
    b.on_success()
    assert b.state == CLOSED and b.consecutive == 0, "a successful trial closes it"


def test_a_stream_that_stalls_ends_with_an_error_event(fake: FakeLlama, tmp_path: Path) -> None:
    fake.mode = "stall"
    tier = remote_tier("primary", fake.url, prompt="0.01", completion="0.01", stream_idle_timeout_s=0.5)
    with run_router(config([tier], tmp_path)) as router:
        t0 = time.monotonic()
        r = httpx.post(router.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10)
    assert r.status_code == 200, "the stream had started before it stalled"
    assert time.monotonic() - t0 < 5, "the stall was cut at the idle timeout"
    assert b'"code":"upstream_timeout"' in r.content, "the last event is an OpenAI-shaped timeout error"
    assert b"[DONE]" not in r.content, "a cut stream does not pretend to be complete"


def test_a_stream_whose_upstream_crashes_mid_way_ends_with_an_error_event(fake: FakeLlama, tmp_path: Path) -> None:
    fake.mode = "crash"
    with run_router(config([remote_tier("primary", fake.url, prompt="0.01", completion="0.01")], tmp_path)) as router:
        r = httpx.post(router.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10)
    assert b"Hel" in r.content, "what was streamed before the crash reached the client"
    assert b'"error"' in r.content and b"[DONE]" not in r.content, "the crash is reported as an error event"


def test_a_stream_stalling_before_its_first_chunk_falls_back(fake: FakeLlama, fake2: FakeLlama, tmp_path: Path) -> None:
    fake.mode, fake.delay = "slow", 5
    tiers = [
        remote_tier(
            "primary", fake.url, prompt="0.01", completion="0.01", fallbacks=["backup"], stream_idle_timeout_s=0.3
        ),
        remote_tier("backup", fake2.url, prompt="0.02", completion="0.02"),
    ]
    with run_router(config(tiers, tmp_path)) as router:
        r = httpx.post(router.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10)
    assert r.headers["x-frugal-tier"] == "backup", "nothing was sent yet, so another tier could answer"
    assert r.content.endswith(b"data: [DONE]\n\n"), "the backup's stream is complete"


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_disconnects_cancels_the_upstream_request(stream: bool, fake: FakeLlama, tmp_path: Path) -> None:
    fake.mode, fake.delay = ("slow", 5) if not stream else ("stall", 0)
    with run_router(config([remote_tier("primary", fake.url, prompt="0.01", completion="0.01")], tmp_path)) as router:

        async def go() -> None:
            async with httpx.AsyncClient(timeout=0.5) as client:
                with pytest.raises(httpx.ReadTimeout):
                    async with client.stream(
                        "POST", router.url + "/v1/chat/completions", json={**CHAT, "stream": stream}
                    ) as r:
                        async for _ in r.aiter_bytes():
                            pass

        asyncio.run(go())
        assert fake.wait_cancelled(1, timeout=5), "the upstream saw its request cancelled when the client left"
        deadline = time.monotonic() + 5
        while router.rt.tiers["primary"].in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert router.rt.tiers["primary"].in_flight == 0, "the tier's in-flight count went back to zero"
