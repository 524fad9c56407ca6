"""Connection limits uvicorn does not have: a deadline for a request's headers and for its body, a
cap on header bytes, and a cap on open connections answered with 503 and `Retry-After`.

uvicorn's keep-alive timeout only runs between two requests, so a client that opens a connection
and sends nothing, or half a header, or half a body, holds a descriptor for ever (measured: 500
half-sent bodies held 500 descriptors, with no API key needed). `guarded_protocol(server)` returns
uvicorn's httptools protocol with these deadlines added (passed as uvicorn's `http=`):

- headers: from the connection's first byte wait (or a request's first byte) to the end of its
  headers, at most `header_timeout_s`, else 408 and the connection is closed;
- body: from the end of the headers to the end of the body, at most `body_timeout_s`, else the
  connection is closed (the app sees a client disconnect, counted as one);
- header bytes over `max_header_bytes`: 431 and closed;
- more than `max_connections` open: the new one gets 503 with `Retry-After` and is closed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from runtime.settings import Server

RETRY_AFTER_S = 1


def _response(status: int, reason: str, message: str, code: str, retry_after: int | None = None) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error" if status < 500 else
                                   "server_error", "param": None, "code": code}})  # fmt: skip
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    if retry_after is not None:
        head += f"retry-after: {retry_after}\r\n"
    return (head + "connection: close\r\n\r\n").encode() + body


_NONE, _HEADERS, _BODY = 0, 1, 2


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines and connection and header-size caps.

    A request only records when its current phase began (a float store, no timer per request:
    arming and cancelling two timers per request showed in the router's latency); one sweeper task
    per event loop closes the connections whose phase ran past its deadline."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_header_bytes: int = 65536
    max_connections: int = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _NONE
        self._since = 0.0
        self._header_bytes = 0

    def _refuse(self, response: bytes) -> None:
        self._phase = _NONE
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse(_response(
                503, "Service Unavailable",
                f"the router has {self.max_connections} connections open (server.max_connections); retry shortly",
                "too_many_connections", RETRY_AFTER_S,
            ))  # fmt: skip
            return
        self._phase, self._since = _HEADERS, self.loop.time()
        _ensure_sweeper(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = _NONE
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase == _HEADERS and not self.transport.is_closing():
            # Counted only while the headers are still incomplete after this data.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(_response(
                    431, "Request Header Fields Too Large",
                    f"request headers over {self.max_header_bytes} bytes (server.max_header_bytes)",
                    "headers_too_large",
                ))  # fmt: skip

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase, self._since, self._header_bytes = _HEADERS, self.loop.time(), 0

    def on_headers_complete(self) -> None:
        self._phase, self._since = _BODY, self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _NONE
        super().on_message_complete()

    def overdue(self, now: float) -> bool:
        if self._phase == _HEADERS:
            return now - self._since > self.header_timeout_s
        if self._phase == _BODY:
            return now - self._since > self.body_timeout_s
        return False

    def expire(self) -> None:
        if self.transport.is_closing():
            return
        if self._phase == _HEADERS:
            self._refuse(_response(
                408, "Request Timeout",
                f"the request headers did not arrive within {self.header_timeout_s} s (server.header_timeout_s)",
                "request_timeout",
            ))  # fmt: skip
        else:
            # The app may be reading the body: closing makes its receive() report a disconnect.
            self._phase = _NONE
            self.transport.close()


def _ensure_sweeper(proto: GuardedHttpTools) -> None:
    """One sweeper per server, kept on uvicorn's per-server state (no module-level registry)."""
    state = proto.server_state
    task: asyncio.Task[None] | None = getattr(state, "frugal_sweeper", None)
    if task is None or task.done():
        interval = min(1.0, max(0.05, min(proto.header_timeout_s, proto.body_timeout_s) / 4))
        state.frugal_sweeper = proto.loop.create_task(_sweep(proto.connections, interval))  # type: ignore[attr-defined]


async def _sweep(connections: set[Any], interval: float) -> None:
    """Close the connections whose headers or body are overdue; ends when no connection is left
    (the next connection starts it again)."""
    loop = asyncio.get_running_loop()
    while connections:
        await asyncio.sleep(interval)
        now = loop.time()
        for conn in list(connections):
            if isinstance(conn, GuardedHttpTools) and conn.overdue(now):
                conn.expire()


def guarded_protocol(server: Server) -> type[GuardedHttpTools]:
    """The protocol class for uvicorn's `http=`, with this config's limits."""
    return type(
        "RouterHttpProtocol",
        (GuardedHttpTools,),
        {
            "header_timeout_s": server.header_timeout_s,
            "body_timeout_s": server.body_timeout_s,
            "max_header_bytes": server.max_header_bytes,
            "max_connections": server.max_connections,
        },
    )
