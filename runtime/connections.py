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


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines and connection and header-size caps."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_header_bytes: int = 65536
    max_connections: int = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_headers = True
        self._header_bytes = 0

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, response: bytes) -> None:
        self._disarm()
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
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
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
        self._in_headers = True
        self._header_bytes = 0
        self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()
        self._arm(self.body_timeout_s)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._refuse(_response(
                408, "Request Timeout",
                f"the request headers did not arrive within {self.header_timeout_s} s (server.header_timeout_s)",
                "request_timeout",
            ))  # fmt: skip
        else:
            # The app may be reading the body: closing makes its receive() report a disconnect.
            self.transport.close()


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
