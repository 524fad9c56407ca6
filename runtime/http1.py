"""A lean keep-alive HTTP/1.1 client for whole answers and probes: asyncio + httptools.

The router's hot path is one POST per request to a tier on the same network, and aiohttp's client
was the largest single cost in the router's added latency. Against the same fake upstream, one
run (bench/client_choice.py): aiohttp 202 µs wall / 146 µs CPU per sequential keep-alive POST and
76 µs per request at 64 concurrent; a connection that writes the request and feeds the answer to
httptools' parser (the parser uvicorn uses) 108 / 66 µs and 23 µs (docs/benchmarks.md). What
this client does, and no more:

- one pool of idle connections per origin (scheme, host, port), reused LIFO, each dropped after
  `keepalive_s` idle (below the 5 s default of cpp-httplib, llama-server's HTTP library, so the
  server does not close one under a request) or as soon as the server closes it;
- HTTP/1.1 requests with a Content-Length body; answers by Content-Length, chunked, or read to the
  close; `Connection: close` honoured; at most `max_body` bytes;
- TLS for https origins (the system's default verification);
- a connect timeout and a total timeout per call; a call that times out, fails or is cancelled
  (a client that went away) closes its connection, which is how llama-server learns to stop.

Failures are OSError / ConnectionError / TimeoutError / `ResponseError`; runtime/upstream.py turns
them into the router's errors. Streams (SSE) stay on aiohttp (runtime/upstream.py).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import defaultdict
from typing import cast
from urllib.parse import urlsplit

import httptools

DEFAULT_KEEPALIVE_S = 4.0
DEFAULT_MAX_BODY = 64 * 2**20


class ResponseError(ConnectionError):
    """The server's answer could not be read: malformed, cut short, or over the size limit."""


class ConnectFailed(ConnectionError):
    """No connection could be made (refused, unreachable, name not resolved, TLS handshake)."""


class _Connection(asyncio.Protocol):
    """One connection; one request at a time. `exchange()` writes a request and awaits its answer."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._headers_done = False
        self._framed = False
        """The answer has a Content-Length or is chunked (else it ends when the connection does)."""
        self._close_after = False
        self.received = False
        """Some byte of the current answer arrived (a failure before that may be retried once)."""

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.close()  # bytes nobody asked for: the connection's state is unknown
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # A callback's own error (the size limit) arrives as the parser's error's cause.
            cause = exc.__cause__ or exc.__context__
            self._fail(cause if isinstance(cause, ResponseError) else ResponseError(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._headers_done and not self._framed and exc is None:
                self._finish()  # an answer without a length ends with the connection
            else:
                self._waiter.set_exception(ResponseError("the server closed the connection before answering"))

    # -- httptools callbacks -----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered in (b"content-length", b"transfer-encoding"):
            self._framed = True
        elif lowered == b"connection" and value.lower() == b"close":
            self._close_after = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_body:
            raise ResponseError(f"the answer is over {self.max_body} bytes")
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self._close_after = True
        self._finish()

    # -- the call ----------------------------------------------------------------------------------

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    @property
    def reusable(self) -> bool:
        return not self.closed and not self._close_after and self._waiter is None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None and self._waiter is None, "one request at a time"
        self._body, self._size, self._headers_done, self._framed, self.received = [], 0, False, False, False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


Origin = tuple[str, str, int]


class Http1Client:
    """Keep-alive connections per origin; `request()` sends one request and reads the whole answer."""

    def __init__(
        self,
        *,
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
        max_idle_per_origin: int = 256,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.keepalive_s = keepalive_s
        self.max_idle_per_origin = max_idle_per_origin
        self.max_body = max_body
        self._idle: defaultdict[Origin, list[_Connection]] = defaultdict(list)
        self._ssl: ssl.SSLContext | None = None
        self._origins: dict[str, tuple[Origin, bytes, bytes]] = {}
        self._closed = False

    async def request(
        self,
        method: bytes,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        timeout_s: float | None,
        connect_timeout_s: float | None = None,
    ) -> tuple[int, bytes]:
        """(status, body). Raises OSError/TimeoutError/ResponseError; the connection is dropped then."""
        origin, host, path = self._split(url)
        head = [method, b" ", path, b" HTTP/1.1\r\nHost: ", host, b"\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} contains a line break")
            head += [name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n"]
        if body is not None:
            head += [b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body]
        else:
            head.append(b"\r\n")
        request = b"".join(head)
        async with asyncio.timeout(timeout_s):
            conn = self._idle_connection(origin)
            if conn is not None:
                try:
                    return self._done(origin, conn, await conn.exchange(request))
                except ResponseError:
                    if conn.received:
                        raise
                    # The server closed an idle connection as the request went out (its keep-alive
                    # ran out first): nothing was answered; the request goes once on a new one.
                except BaseException:
                    conn.close()  # cancelled or timed out mid-answer: its state is unknown
                    raise
            conn = await self._connect(origin, connect_timeout_s)
            try:
                return self._done(origin, conn, await conn.exchange(request))
            except BaseException:
                conn.close()
                raise

    def _done(self, origin: Origin, conn: _Connection, answer: tuple[int, bytes]) -> tuple[int, bytes]:
        self._put_back(origin, conn)
        return answer

    def _split(self, url: str) -> tuple[Origin, bytes, bytes]:
        # Parsing a URL costs more than the rest of a request's framing: once per base URL + path.
        known = self._origins.get(url)
        if known is not None:
            return known
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        host = parts.netloc.rpartition("@")[2]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        encoded = host.encode() if host.isascii() else host.encode("idna")
        known = ((parts.scheme, parts.hostname, port), encoded, path.encode())
        if len(self._origins) < 1024:  # replicas come and go; do not grow without bound
            self._origins[url] = known
        return known

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.reusable and now - conn.idle_since < self.keepalive_s:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, timeout_s: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            async with asyncio.timeout(timeout_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self.max_body),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                )
        except OSError as exc:  # refused, unreachable, not resolved, TLS (ssl.SSLError is an OSError)
            raise ConnectFailed(f"{host}:{port}: {exc.strerror or exc}") from exc
        return conn

    def _put_back(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle[origin]
        if self._closed or not conn.reusable or len(idle) >= self.max_idle_per_origin:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


__all__ = ["DEFAULT_KEEPALIVE_S", "ConnectFailed", "Http1Client", "ResponseError"]
