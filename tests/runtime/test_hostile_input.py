"""Hostile or broken clients on real loopback sockets: deep JSON, an unexpected server error on a
keep-alive connection, a client hanging up mid-body, half-sent headers and bodies (slowloris), idle
keep-alive connections, oversized headers and too many connections. Every wait is bounded."""

from __future__ import annotations

import http.client
import logging
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from runtime.cache.protocol import CachedResponse, CacheRequest, NullCache
from runtime.settings import Settings
from tests.runtime.conftest import config, remote_tier, run_router
from tests.runtime.fake_llama import FakeLlama
from tests.runtime.inprocess import InProcessLlama, in_process

CHAT = {"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]}
PATH = "/v1/chat/completions"


def _settings(url: str, tmp_path: Path, **server: Any) -> Settings:
    tiers = [remote_tier("cheap", url, prompt="0.01", completion="0.01")]
    return config(tiers, tmp_path, server=server)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.anyio
async def test_json_nested_past_the_limit_is_a_400_and_within_it_is_served(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    async with in_process(_settings(llama.url, tmp_path), llama) as router:
        deep = await router.client.post(PATH, content=b'{"x": ' + b"[" * 300 + b"]" * 300 + b', "messages": []}')
        deeper = await router.client.post(PATH, content=orjson.dumps({**CHAT, "x": _nested(250)}))
        fine = await router.client.post(PATH, json={**CHAT, "x": _nested(50)})
    for r in (deep, deeper):
        assert r.status_code == 400, f"too deep: a client error, not a 500 ({r.status_code})"
        assert "limits.max_json_depth" in r.json()["error"]["message"], f"the limit is named: {r.json()}"
    assert fine.status_code == 200, f"nesting within the limit is served: {fine.text}"


class BrokenCache(NullCache):
    """A cache whose lookup fails with an exception nobody expects."""

    async def lookup(self, request: CacheRequest) -> CachedResponse | None:
        raise ZeroDivisionError("a bug")


def test_an_unexpected_error_is_an_openai_500_and_the_connection_stays_usable(
    fake: FakeLlama, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with run_router(_settings(fake.url, tmp_path), cache=BrokenCache()) as router:
        conn = http.client.HTTPConnection("127.0.0.1", int(router.url.rsplit(":", 1)[1]), timeout=10)
        conn.request("POST", PATH, body=orjson.dumps(CHAT), headers={"content-type": "application/json"})
        first = conn.getresponse()
        body = orjson.loads(first.read())
        assert conn.sock is not None, "the connection is open after the 500"
        port = conn.sock.getsockname()[1]
        conn.request("GET", "/healthz")
        second = conn.getresponse()
        second.read()
        same = conn.sock is not None and conn.sock.getsockname()[1] == port
        conn.close()
    assert first.status == 500 and body["error"]["code"] == "internal_error", f"an OpenAI 500: {body}"
    assert "ZeroDivisionError" in body["error"]["message"], "the message names the failure, not a trace"
    assert second.status == 200 and same, "the next request went over the same keep-alive connection"
    assert "unexpected error" in caplog.text, "the bug is logged for the operator"


def test_a_client_that_hangs_up_mid_body_is_counted_as_a_disconnect(
    fake: FakeLlama, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with run_router(_settings(fake.url, tmp_path)) as router:
        port = int(router.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n".encode() + b'{"model"')
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        metrics = ""
        while 'status="499",tier="none"' not in metrics and time.monotonic() < deadline:
            time.sleep(0.05)
            metrics = httpx.get(router.url + "/metrics").text
    with caplog.at_level(logging.ERROR):
        assert 'frugal_requests_total{status="499",tier="none"} 1.0' in metrics, "counted as a disconnect"
        assert 'status="500"' not in metrics, "not counted as a server error"
    assert "unexpected error" not in caplog.text, "not logged as an internal error"


def _open_partial(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s


def _closed_by_server(s: socket.socket, within: float) -> tuple[bool, bytes]:
    """(the server closed it within `within` seconds, what it sent first)."""
    s.settimeout(within)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return True, got
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        return True, got


def test_half_sent_headers_are_timed_out_and_extra_connections_refused_with_retry_after(
    fake: FakeLlama, tmp_path: Path
) -> None:
    settings = _settings(fake.url, tmp_path, header_timeout_s=0.5, max_connections=10)
    with run_router(settings) as router:
        port = int(router.url.rsplit(":", 1)[1])
        # slowloris: a request line and one header, then nothing; two never send a byte
        socks = [_open_partial(port, f"POST {PATH} HTTP/1.1\r\nhost: x\r\n".encode()) for _ in range(13)]
        socks += [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        results = [_closed_by_server(s, 3) for s in socks]
        for s in socks:
            s.close()
        after = httpx.post(router.url + PATH, json=CHAT, timeout=10)
    closed = [r for r in results if r[0]]
    refused = [r for r in results if r[1].startswith(b"HTTP/1.1 503")]
    timed_out = [r for r in results if r[1].startswith(b"HTTP/1.1 408")]
    assert len(closed) == 15, f"every half-open connection was closed by the router within 3 s ({len(closed)}/15)"
    assert len(refused) == 5 and all(b"retry-after: 1" in r[1] for r in refused), (
        f"connections past max_connections=10 get 503 with Retry-After ({len(refused)})"
    )
    assert len(timed_out) == 10, f"the others got 408 after header_timeout_s ({len(timed_out)})"
    assert after.status_code == 200, "the router serves normally afterwards"


def test_a_half_sent_body_is_timed_out(fake: FakeLlama, tmp_path: Path) -> None:
    settings = _settings(fake.url, tmp_path, body_timeout_s=0.5)
    with run_router(settings) as router:
        port = int(router.url.rsplit(":", 1)[1])
        head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n".encode()
        socks = [_open_partial(port, head + b'{"model": ') for _ in range(20)]
        t0 = time.monotonic()
        closed = [_closed_by_server(s, 3)[0] for s in socks]
        waited = time.monotonic() - t0
        for s in socks:
            s.close()
        metrics = httpx.get(router.url + "/metrics").text
    assert all(closed), f"all 20 half-sent bodies were dropped ({closed.count(True)}/20)"
    assert waited < 2.5, f"within about body_timeout_s ({waited:.2f} s)"
    assert 'frugal_requests_total{status="499",tier="none"} 20.0' in metrics, "each counted as a disconnect"


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(_settings(fake.url, tmp_path, keep_alive_timeout_s=0.5)) as router:
        port = int(router.url.rsplit(":", 1)[1])
        s = _open_partial(port, b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        t0 = time.monotonic()
        closed, got = _closed_by_server(s, 3)
        waited = time.monotonic() - t0
        s.close()
    assert got.startswith(b"HTTP/1.1 200"), f"the request was answered: {got[:40]!r}"
    assert closed and 0.3 < waited < 2, f"then the idle connection was closed after ~0.5 s ({waited:.2f} s)"


def test_oversized_headers_are_a_431(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(_settings(fake.url, tmp_path, max_header_bytes=2048)) as router:
        port = int(router.url.rsplit(":", 1)[1])
        s = _open_partial(port, b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        for i in range(6):  # 6 x 410 bytes: past the 2048-byte cap on the last one
            s.sendall(f"x-pad-{i}: {'a' * 400}\r\n".encode())
            time.sleep(0.02)
        closed, got = _closed_by_server(s, 3)
        s.close()
    assert closed and got.startswith(b"HTTP/1.1 431"), f"refused as too large: {got[:60]!r}"
