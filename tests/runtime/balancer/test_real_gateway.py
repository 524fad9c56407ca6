"""The gateway with real processes: two real llama-servers as replicas of one tier behind the router
(a spot reclaim mid-stream), and the router process itself drained by SIGTERM.

The reclaim runs 16 concurrent streams that ask the small model to count (the answer prefilled
"1," by the client; at temperature 0 it counts correctly for well over a hundred tokens), so a
repeated or missing piece of a continued stream breaks the sequence of numbers.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from runtime.assets import AssetError, small_model
from runtime.replicas import StaticDiscovery
from runtime.supervisor import free_port
from tests.runtime.balancer.llama_pair import LlamaPair
from tests.runtime.conftest import config, run_router

pytestmark = pytest.mark.slow

STREAMS = 16
KILL_AFTER_CHUNKS = 25
COUNT: dict[str, Any] = {
    "model": "small",
    "messages": [
        {"role": "user", "content": "Count from 1 to 100, separated by commas."},
        {"role": "assistant", "content": "1,"},
    ],
    "max_tokens": 150,
    "temperature": 0,
    "stream": True,
}
CANONICAL = ", ".join(str(n) for n in range(1, 101))
ROOT = Path(__file__).resolve().parents[3]


class WidePair(LlamaPair):
    """Two llama-servers with 8 slots each, so all 16 streams run at once, 8 on each."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, slots=(8, 8), name="wide")


@pytest.fixture(scope="module")
def wide_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidePair]:
    try:
        pair = WidePair(tmp_path_factory.mktemp("wide-pair"))
    except AssetError as exc:
        pytest.fail(f"real-component tests need the built llama-server and the model: {exc}")
    try:
        yield pair.ensure()
    finally:
        for p in (pair.a, pair.b):
            p.stop()


def _continuations(metrics: str) -> float:
    m = re.search(r'^frugal_continuations_total\{tier="small"\} ([0-9.]+)$', metrics, re.M)
    return float(m.group(1)) if m else 0.0


async def _stream(client: httpx.AsyncClient, texts: list[str], i: int, events: list[list[bytes]]) -> None:
    # A seed of its own per stream: at temperature 0 it changes nothing in the text, but it makes the
    # 16 requests distinct, so single-flight does not merge them into one upstream stream.
    async with client.stream("POST", "/v1/chat/completions", json={**COUNT, "seed": i}) as r:
        assert r.status_code == 200, f"stream {i} was admitted ({r.status_code})"
        buf = b""
        async for data in r.aiter_bytes():
            buf += data
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                events[i].append(event)
                if event.startswith(b"data: {"):
                    chunk = orjson.loads(event[6:])
                    if chunk.get("choices"):
                        texts[i] += chunk["choices"][0]["delta"].get("content") or ""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "removed"])
def test_sixteen_streams_survive_a_replica_reclaimed_halfway_each_continued_without_repeats(
    wide_pair: WidePair, tmp_path: Path, how: str
) -> None:
    pair = wide_pair.ensure()
    tier = {
        "name": "small",
        "replicas": {"urls": [pair.a.url, pair.b.url], "refresh_s": 0.5},
        "price": {"prompt_per_1k": "0.0001", "completion_per_1k": "0.0002"},
        # A continuation may wait in the surviving replica's own queue (its slots are full) for as long
        # as the streams there take; on 2 shared cores that is well over the default 30 s.
        "stream_idle_timeout_s": 300,
    }
    with run_router(config([tier], tmp_path)) as router:
        gate = router.rt.gateway.gate("small")
        deadline = time.monotonic() + 30
        while gate.replicas.ready_slots < 16:
            assert time.monotonic() < deadline, "both replicas probed ready (8 slots each) within 30 s"
            time.sleep(0.1)
        texts = [""] * STREAMS
        events: list[list[bytes]] = [[] for _ in range(STREAMS)]
        before: list[str] = []
        on_a: list[int] = []

        def reclaim() -> None:
            deadline = time.monotonic() + 120
            while min(t.count(",") for t in texts) < KILL_AFTER_CHUNKS // 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            replica_a = gate.replicas.replicas[pair.a.url]
            if how == "removed":
                # Gone from discovery (DNS drops a terminating pod): no new request goes to a...
                gate.replicas.discovery = StaticDiscovery((pair.b.url,))
                while not replica_a.draining:
                    time.sleep(0.05)
            on_a.append(replica_a.in_flight)
            before.extend(texts)
            # ...and the node goes away with a's streams still running.
            pair.a.kill(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL, wait=False)

        async def run() -> None:
            # As patient as the router's idle timeout: a continuation may queue on the survivor.
            async with httpx.AsyncClient(base_url=router.url, timeout=330) as client:
                await asyncio.gather(*(_stream(client, texts, i, events) for i in range(STREAMS)))

        killer = threading.Thread(target=reclaim, daemon=True)
        killer.start()
        asyncio.run(run())
        killer.join(10)
        metrics = httpx.get(router.url + "/metrics").text
    pair.a.stop()
    done = [e[-1] == b"data: [DONE]" and not any(x.startswith(b'data: {"error"') for x in e) for e in events]
    failed = {i: e[-3:] for i, e in enumerate(events) if not done[i]}
    assert all(done), f"{done.count(True)}/16 streams ended normally with [DONE] and no error: {failed}"
    for i, text in enumerate(texts):
        assert text.startswith(before[i]), f"stream {i} starts with what it had before the kill"
        assert CANONICAL.startswith(text) and len(text) > len(before[i]), f"stream {i} counts on, no repeats: {text!r}"
    continued = [
        orjson.loads(e[6:]).get("frugal", {}).get("continued", 0)
        for evs in events
        for e in evs
        if e.startswith(b"data: {") and b'"frugal"' in e
    ]
    assert on_a and on_a[0] > 0, f"some streams were on the reclaimed replica ({on_a})"
    assert len(continued) == on_a[0] and set(continued) == {1}, (
        f"each of the {on_a[0]} streams on a was continued once, no other: {continued}"
    )
    assert _continuations(metrics) == on_a[0], "frugal_continuations_total counts the same streams"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split()[2]


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, "the router is running"
        assert time.monotonic() < deadline, f"the router became ready within {timeout_s} s"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def test_sigterm_drains_the_router_drops_no_request_in_flight_refuses_new_ones_and_exits_0(tmp_path: Path) -> None:
    cfg = tmp_path / "router.yaml"
    cfg.write_text(
        f"tiers:\n  - name: small\n    local: {{model_path: {small_model()}, parallel: 2, ctx_size: 2048}}\n"
        "    price: {prompt_per_1k: '0.0001', completion_per_1k: '0.0002'}\n"
        f"budget: {{sqlite_path: {tmp_path / 'spend.sqlite3'}}}\n"
        "drain: {grace_s: 90}\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FRUGAL_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime", "--config", str(cfg), "--port", str(port)], env=env, cwd=ROOT
    )
    try:
        _wait_ready(port, proc, 120)
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        body = {**COUNT, "max_tokens": 32}
        results: list[bytes] = [b"", b""]
        started = [threading.Event(), threading.Event()]

        def stream(i: int) -> None:
            try:
                # Distinct seeds: two requests in flight, not one shared stream (single-flight).
                with httpx.stream("POST", url + "/v1/chat/completions", json={**body, "seed": i}, timeout=120) as r:
                    for data in r.iter_bytes():
                        results[i] += data
                        started[i].set()
            except httpx.HTTPError as exc:  # reported by the assertion on results below
                results[i] += f"\n[client: {exc!r}]".encode()

        threads = [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        assert all(s.wait(60) for s in started), "both streams are in flight"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        refused = httpx.post(url + "/v1/chat/completions", json={**COUNT, "stream": False}, timeout=10)
        ready = httpx.get(url + "/readyz", timeout=10)
        for t in threads:
            t.join(90)
        code = proc.wait(100)
        took = time.monotonic() - t0
        time.sleep(0.2)
        alive = [c for c in children if Path(f"/proc/{c}").exists() and _state(c) != "Z"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "draining", (
        f"a request during the drain gets 503 ({refused.status_code} {refused.text})"
    )
    assert int(refused.headers["retry-after"]) >= 1, "with a Retry-After"
    assert ready.status_code == 503, "/readyz says not ready as soon as the drain starts"
    for i, raw in enumerate(results):
        assert raw.endswith(b"data: [DONE]\n\n") and b'"error"' not in raw, f"stream {i} finished: {raw[-200:]!r}"
    assert code == 0, f"the router exits 0 after the drain ({code})"
    assert took < 90 + 15, f"within the grace and uvicorn's shutdown ({took:.1f} s)"
    assert alive == [], f"the supervisor stopped its llama-server: {alive}"
