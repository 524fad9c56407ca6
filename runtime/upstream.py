"""Calls to a tier's OpenAI-compatible server, through a Transport.

A Transport moves bytes: `post` returns a status and a whole body, `open` returns a status and a
body read line by line. Everything above it is shared by every transport: the status mapping, JSON
parsing and SSE framing here, and the dispatch pipeline above. The production transport sends
whole answers and probes through runtime/http1.py and streams through aiohttp (each measured
against the alternatives on this path: bench/client_choice.py, docs/benchmarks.md), and this
module is the ONE place foreign exceptions become ours:

    TimeoutError, aiohttp.ServerTimeoutError          -> UpstreamTimeout (504)
    ConnectFailed, aiohttp.ClientConnectorError       -> UpstreamError (502), "connection failed"
      (refused, unreachable, DNS, TLS)
    other OSError / aiohttp.ClientError               -> UpstreamError (502)
      (reset, closed before answering, malformed or oversized answer)

and for every transport:

    HTTP 503 from the upstream (loading, no slot)     -> UpstreamUnavailable (503)
    HTTP 500 saying the request could not be parsed   -> UpstreamRejected (400; CLIENT_FAULT_MARKERS)
    other HTTP 5xx                                    -> UpstreamError (502)
    HTTP 4xx                                          -> UpstreamRejected (status and body passed through)
    a 200 stream whose lines are not SSE              -> UpstreamError (502, upstream_not_sse)

Every failure except UpstreamRejected is `retryable`: the router may try the next tier. Tests inject
an in-process transport through create_app(settings, upstream=...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

from runtime.errors import UpstreamError, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from runtime.http1 import DEFAULT_KEEPALIVE_S, ConnectFailed, Http1Client
from runtime.routing import TierState

DONE = b"data: [DONE]"
SSE_FIELDS = (b"data:", b":", b"event:", b"id:", b"retry:")
"""What every line of an SSE event starts with (the WHATWG event-stream format)."""


@contextmanager
def translate(tier: str) -> Iterator[None]:
    """Translate aiohttp/asyncio failures talking to `tier` into UpstreamFailure subclasses."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout(f"tier {tier!r} did not answer in time ({type(exc).__name__})") from exc
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamError(
            f"tier {tier!r}: connection failed ({exc.os_error or exc})", code="upstream_connect"
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"tier {tier!r}: {type(exc).__name__}: {exc}") from exc


@contextmanager
def translate_http1(tier: str) -> Iterator[None]:
    """The same translation for the lean client (runtime/http1.py)."""
    try:
        yield
    except TimeoutError as exc:
        raise UpstreamTimeout(f"tier {tier!r} did not answer in time ({type(exc).__name__})") from exc
    except ConnectFailed as exc:
        raise UpstreamError(f"tier {tier!r}: connection failed ({exc})", code="upstream_connect") from exc
    except OSError as exc:  # reset, closed before answering, malformed answer (ResponseError)
        raise UpstreamError(f"tier {tier!r}: {type(exc).__name__}: {exc}") from exc


CLIENT_FAULT_MARKERS = (
    "Failed to parse messages",
    "Failed to parse tools",
    "[json.exception.",
    "image input is not supported",
    "audio input is not supported",
)
"""llama-server's HTTP 500 messages for a request it cannot read (seen from a real server: a text
part without `text`, `name: null`, tools it cannot parse, an image or audio part on a text-only
model). The router's own validation (runtime/chat_schema.py) stops most before they are sent."""


def _client_fault(parsed: Any) -> bool:
    err = parsed.get("error") if isinstance(parsed, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    return isinstance(message, str) and any(marker in message for marker in CLIENT_FAULT_MARKERS)


def _status_error(tier: str, status: int, body: bytes) -> UpstreamError | UpstreamUnavailable | UpstreamRejected:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    detail = body[:300].decode(errors="replace")
    if status == 500 and _client_fault(parsed):
        # A malformed request llama-server could not parse: the client's error, and no sign that the
        # tier is failing, so it is a 400 that no other tier is tried for and no breaker counts.
        return UpstreamRejected(f"tier {tier!r} could not read the request: {detail}", 400, parsed)
    if 400 <= status < 500:
        return UpstreamRejected(
            f"tier {tier!r} rejected the request: {detail}", status, parsed if isinstance(parsed, dict) else None
        )
    if status == 503:
        return UpstreamUnavailable(f"tier {tier!r} is unavailable (HTTP 503): {detail}")
    return UpstreamError(f"tier {tier!r} failed with HTTP {status}: {detail}")


def _headers(tier: TierState) -> dict[str, str]:
    h = {"Content-Type": "application/json", **tier.extra_headers}
    if tier.api_key:
        h["Authorization"] = "Bearer " + tier.api_key
    return h


class StreamBody(Protocol):
    """An open streaming response. `lines()` yields raw lines (terminators included or not) and
    raises UpstreamFailure on a transport failure; `close()` drops the connection."""

    status: int

    async def read(self) -> bytes: ...

    def lines(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """How the router reaches its tiers; raises UpstreamFailure for failures below HTTP."""

    async def post(self, tier: TierState, path: str, body: bytes) -> tuple[int, bytes]:
        """POST and read the whole answer within the tier's `timeout_s`."""
        ...

    async def open(self, tier: TierState, path: str, body: bytes) -> StreamBody:
        """POST and return once the status line arrived; reads time out after `stream_idle_timeout_s`."""
        ...

    async def get(self, url: str, api_key: str | None, timeout_s: float) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class AiohttpStream:
    def __init__(self, tier: str, response: aiohttp.ClientResponse) -> None:
        self.tier = tier
        self.response = response
        self.status = response.status

    async def read(self) -> bytes:
        with translate(self.tier):
            try:
                return await self.response.read()
            finally:
                self.response.release()

    async def lines(self) -> AsyncIterator[bytes]:
        with translate(self.tier):
            async for line in self.response.content:
                yield line

    def close(self) -> None:
        # Closing (not releasing) drops the connection, which is how llama-server learns the
        # client went away and stops generating.
        self.response.close()


class HttpTransport:
    """The production transport: whole answers and probes on the lean keep-alive client
    (runtime/http1.py: under half of aiohttp's CPU per call, a third of its time at 64 concurrent), streams on one
    keep-alive aiohttp session (its line reader and read timeouts serve SSE well)."""

    def __init__(self, limit_per_host: int = 256) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=limit_per_host, keepalive_timeout=DEFAULT_KEEPALIVE_S, enable_cleanup_closed=True
        )
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False, raise_for_status=False)
        self.client = Http1Client(max_idle_per_origin=limit_per_host)

    async def post(self, tier: TierState, path: str, body: bytes) -> tuple[int, bytes]:
        with translate_http1(tier.name):
            return await self.client.request(
                b"POST", tier.base_url + path, _headers(tier), body,
                timeout_s=tier.cfg.timeout_s, connect_timeout_s=tier.cfg.connect_timeout_s,
            )  # fmt: skip

    async def open(self, tier: TierState, path: str, body: bytes) -> AiohttpStream:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=tier.cfg.connect_timeout_s, sock_read=tier.cfg.stream_idle_timeout_s
        )
        with translate(tier.name):
            resp = await self.session.post(tier.base_url + path, data=body, headers=_headers(tier), timeout=timeout)
        return AiohttpStream(tier.name, resp)

    async def get(self, url: str, api_key: str | None, timeout_s: float) -> tuple[int, bytes]:
        headers = {"Authorization": "Bearer " + api_key} if api_key else {}
        with translate_http1(url):
            return await self.client.request(b"GET", url, headers, None, timeout_s=timeout_s)

    async def close(self) -> None:
        self.client.close()
        await self.session.close()


async def post_json(transport: Transport, tier: TierState, path: str, body: bytes) -> tuple[bytes, dict[str, Any]]:
    """POST and return (raw body, parsed JSON) of a 2xx answer, or raise an UpstreamFailure."""
    status, raw = await transport.post(tier, path, body)
    if status >= 400:
        raise _status_error(tier.name, status, raw)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"tier {tier.name!r} answered with invalid JSON: {raw[:200]!r}") from exc
    if not isinstance(parsed, dict):
        raise UpstreamError(f"tier {tier.name!r} answered with a JSON {type(parsed).__name__}, not an object")
    return raw, parsed


@dataclass
class UpstreamStream:
    """An open SSE response; iterate `events()` for raw `data: ...` events, then `close()`."""

    tier: TierState
    body: StreamBody

    async def events(self) -> AsyncIterator[bytes]:
        """Each SSE event as received (without the blank-line terminator), `data: [DONE]` last."""
        buf: list[bytes] = []
        async for line in self.body.lines():
            line = line.rstrip(b"\r\n")
            if line:
                if not line.startswith(SSE_FIELDS):
                    # A 200 that is not an event stream (an error page, a JSON answer): the tier failed.
                    raise UpstreamError(
                        f"tier {self.tier.name!r} answered the stream with a non-SSE body: {line[:120]!r}",
                        code="upstream_not_sse",
                    )
                buf.append(line)
                continue
            if not buf:
                continue
            event = b"\n".join(buf)
            buf = []
            yield event
            if event == DONE:
                return
        if buf:
            event = b"\n".join(buf)
            yield event
            if event == DONE:
                return
        raise UpstreamError(f"tier {self.tier.name!r} closed the stream before [DONE]", code="upstream_stream_cut")

    def close(self) -> None:
        self.body.close()


async def open_stream(transport: Transport, tier: TierState, path: str, body: bytes) -> UpstreamStream:
    """POST a streaming request; return once the status line arrived (errors raised before any byte)."""
    resp = await transport.open(tier, path, body)
    if resp.status >= 400:
        raise _status_error(tier.name, resp.status, await resp.read())
    return UpstreamStream(tier, resp)


async def get_json(transport: Transport, url: str, api_key: str | None, timeout_s: float = 2.0) -> tuple[int, Any]:
    """A small GET for health and props probes; returns (status, parsed JSON or None)."""
    status, raw = await transport.get(url, api_key, timeout_s)
    try:
        return status, orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return status, None


__all__ = [
    "HttpTransport",
    "StreamBody",
    "Transport",
    "UpstreamStream",
    "get_json",
    "open_stream",
    "post_json",
    "translate",
]
