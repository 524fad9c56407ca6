"""The lean HTTP/1.1 client (runtime/http1.py) against real loopback servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from runtime.http1 import ConnectFailed, Http1Client, ResponseError
from runtime.supervisor import free_port

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""(request, writer) -> keep the connection open?"""

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


class Server:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.disconnected = asyncio.Event()
        self.reader: asyncio.StreamReader

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.reader = reader
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                if not await self.reply(request, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.disconnected.set()
            writer.close()


@asynccontextmanager
async def serving(reply: Reply) -> AsyncIterator[tuple[Server, str]]:
    server = Server(reply)
    port = free_port()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port)
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        listener.close()


async def ok(request: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    await writer.drain()
    return True


@pytest.mark.anyio
async def test_a_second_request_reuses_the_kept_alive_connection_and_sends_what_was_asked() -> None:
    client = Http1Client()
    async with serving(ok) as (server, url):
        first = await client.request(b"POST", url + "/v1/chat", {"Authorization": "Bearer k"}, b"{}", timeout_s=5)
        second = await client.request(b"GET", url + "/health", {}, None, timeout_s=5)
    client.close()
    assert first == (200, b'{"ok":true}') and second[0] == 200, f"both answered whole: {first} {second}"
    assert server.connections == 1, f"keep-alive: one connection for two requests, saw {server.connections}"
    assert server.requests[0].startswith(b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:"), "request line and Host"
    assert b"Authorization: Bearer k\r\n" in server.requests[0], "the caller's headers are sent"
    assert server.requests[0].endswith(b"Content-Length: 2\r\n\r\n{}"), "the body with its length"
    assert server.requests[1].startswith(b"GET /health HTTP/1.1"), "a GET has no body"


@pytest.mark.anyio
async def test_chunked_and_close_delimited_answers_are_read_whole() -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        return True

    async def to_close(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()
        return False

    client = Http1Client()
    async with serving(chunked) as (_, url):
        assert await client.request(b"GET", url, {}, None, timeout_s=5) == (200, b"abcdefg"), "chunks joined"
    async with serving(to_close) as (server, url):
        for _ in range(2):
            answer = await client.request(b"GET", url, {}, None, timeout_s=5)
            assert answer == (200, b"until the end"), f"an answer without a length ends at the close: {answer}"
        assert server.connections == 2, "Connection: close is honoured: the next request opens a new connection"
    client.close()


@pytest.mark.anyio
async def test_an_idle_connection_the_server_dropped_is_replaced_without_failing_the_request() -> None:
    async def then_drop(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK)  # says nothing about closing, then closes: the keep-alive race
        await writer.drain()
        return False

    client = Http1Client()
    async with serving(then_drop) as (server, url):
        await client.request(b"GET", url, {}, None, timeout_s=5)
        await asyncio.wait_for(server.disconnected.wait(), 5)
        answer = await client.request(b"POST", url, {}, b"x", timeout_s=5)
    client.close()
    assert answer[0] == 200, f"the request went out on a fresh connection: {answer}"
    assert server.connections == 2 and len(server.requests) == 2, "one new connection, no duplicate request"


@pytest.mark.anyio
async def test_a_server_that_reads_the_request_and_hangs_up_is_an_error_not_a_retry_loop() -> None:
    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> bool:
        return False

    client = Http1Client()
    async with serving(hang_up) as (server, url):
        with pytest.raises(ResponseError, match="closed the connection before answering"):
            await client.request(b"POST", url, {}, b"x", timeout_s=5)
    client.close()
    assert len(server.requests) == 1, "a fresh connection that fails is not retried (the request may have run)"


@pytest.mark.anyio
async def test_oversized_and_malformed_answers_are_errors_and_drop_the_connection() -> None:
    async def big(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
        return True

    async def garbage(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SMTP ready\r\n\r\n")
        return True

    client = Http1Client(max_body=10)
    async with serving(big) as (server, url):
        with pytest.raises(ResponseError, match="over 10 bytes"):
            await client.request(b"GET", url, {}, None, timeout_s=5)
        await asyncio.wait_for(server.disconnected.wait(), 5)  # the client dropped it
    async with serving(garbage) as (_, url):
        with pytest.raises(ResponseError, match="malformed"):
            await client.request(b"GET", url, {}, None, timeout_s=5)
    client.close()


@pytest.mark.anyio
async def test_a_timeout_raises_and_closes_the_connection_so_the_server_stops_working() -> None:
    async def slow(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.wait_for(server.reader.read(), 30)  # returns at the client's close: a server at work
        return False

    client = Http1Client()
    async with serving(slow) as (server, url):
        with pytest.raises(TimeoutError):
            await client.request(b"POST", url, {}, b"x", timeout_s=0.2)
        await asyncio.wait_for(server.disconnected.wait(), 5)
    client.close()
    assert server.disconnected.is_set(), "the server saw the client go away"


@pytest.mark.anyio
async def test_a_refused_connection_and_a_header_with_a_line_break_are_refused_clearly() -> None:
    client = Http1Client()
    with pytest.raises(ConnectFailed, match=r"127\.0\.0\.1:\d+"):
        await client.request(b"GET", f"http://127.0.0.1:{free_port()}/", {}, None, timeout_s=5)
    with pytest.raises(ValueError, match="line break"):
        await client.request(b"GET", "http://127.0.0.1:1/", {"X-Evil": "a\r\nHost: b"}, None, timeout_s=5)
    with pytest.raises(ValueError, match="not an http"):
        await client.request(b"GET", "ftp://127.0.0.1/", {}, None, timeout_s=5)
    client.close()
