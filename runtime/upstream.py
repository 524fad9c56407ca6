"""Calls to a tier's OpenAI-compatible server, and the ONE place foreign exceptions become ours.

aiohttp is the client because it measured faster than httpx on this path (bench/client_choice.py,
docs/benchmarks.md). Mapping (see runtime/errors.py for the hierarchy):

    asyncio.TimeoutError, aiohttp.ServerTimeoutError  -> UpstreamTimeout (504)
    aiohttp.ClientConnectorError (refused, DNS)       -> UpstreamError (502), "connection failed"
    other aiohttp.ClientError (reset, bad payload)    -> UpstreamError (502)
    HTTP 503 from the upstream (loading, no slot)     -> UpstreamUnavailable (503)
    other HTTP 5xx                                    -> UpstreamError (502)
    HTTP 4xx                                          -> UpstreamRejected (status and body passed through)

Every failure except UpstreamRejected is `retryable`: the router may try the next tier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from runtime.errors import UpstreamError, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from runtime.routing import TierState

DONE = b"data: [DONE]"


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


def _status_error(tier: str, status: int, body: bytes) -> UpstreamError | UpstreamUnavailable | UpstreamRejected:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    detail = body[:300].decode(errors="replace")
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


async def post_json(
    session: aiohttp.ClientSession, tier: TierState, path: str, body: bytes
) -> tuple[bytes, dict[str, Any]]:
    """POST and return (raw body, parsed JSON) of a 2xx answer, or raise an UpstreamFailure."""
    timeout = aiohttp.ClientTimeout(total=tier.cfg.timeout_s, sock_connect=tier.cfg.connect_timeout_s)
    with translate(tier.name):
        async with session.post(tier.base_url + path, data=body, headers=_headers(tier), timeout=timeout) as resp:
            raw = await resp.read()
            status = resp.status
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
    response: aiohttp.ClientResponse

    async def events(self) -> AsyncIterator[bytes]:
        """Each SSE event as received (without the blank-line terminator), `data: [DONE]` last."""
        buf: list[bytes] = []
        with translate(self.tier.name):
            async for line in self.response.content:
                line = line.rstrip(b"\r\n")
                if line:
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
        # Closing (not releasing) drops the connection, which is how llama-server learns the
        # client went away and stops generating.
        self.response.close()


async def open_stream(session: aiohttp.ClientSession, tier: TierState, path: str, body: bytes) -> UpstreamStream:
    """POST a streaming request; return once the status line arrived (errors raised before any byte)."""
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=tier.cfg.connect_timeout_s, sock_read=tier.cfg.stream_idle_timeout_s
    )
    with translate(tier.name):
        resp = await session.post(tier.base_url + path, data=body, headers=_headers(tier), timeout=timeout)
        if resp.status >= 400:
            try:
                raw = await resp.read()
            finally:
                resp.release()
            raise _status_error(tier.name, resp.status, raw)
    return UpstreamStream(tier, resp)


async def get_json(
    session: aiohttp.ClientSession, url: str, api_key: str | None, timeout_s: float = 2.0
) -> tuple[int, Any]:
    """A small GET for health and props probes; returns (status, parsed JSON or None)."""
    headers = {"Authorization": "Bearer " + api_key} if api_key else {}
    with translate(url):
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            raw = await resp.read()
            try:
                return resp.status, orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                return resp.status, None


def new_session(limit_per_host: int = 256) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=limit_per_host, keepalive_timeout=30, enable_cleanup_closed=True
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, raise_for_status=False)


__all__ = ["UpstreamStream", "get_json", "new_session", "open_stream", "post_json", "translate"]
