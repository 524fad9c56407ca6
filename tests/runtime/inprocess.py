"""The router in process: create_app driven through httpx.ASGITransport, its tiers served by
scriptable in-process fakes (the app's `upstream` seam), time from a settable clock.

No sockets and no threads: the app, its budget store's callers and the test share one event loop,
so a test awaits the live Runtime directly. What only a real socket can show (connect errors,
aiohttp timeouts, a client hanging up mid-stream) stays in the tests that use
tests/runtime/fake_llama.py and run_router.

`InProcessLlama.mode` mirrors FakeLlama's:
- "ok": a chat.completion, or an SSE stream ending with a usage chunk when stream_options.include_usage
  was sent (like llama-server);
- "500" / "503" / "400": that HTTP status with an OpenAI-shaped error;
- "slow": answer after `delay` seconds (the tier's timeout_s still applies, as a socket read would);
- "stall": a stream that sends one chunk and then nothing (cut at the tier's stream_idle_timeout_s);
- "crash": a stream that sends one chunk and then loses the connection;
- "overrun": ignores max_tokens: 100 completion tokens (usage) or 100 one-token chunks (stream);
- "not-sse": a stream answered 200 with a JSON body instead of events.
`reply = (status, body)` answers chat with exactly that instead (e.g. a real llama-server's error);
`script = [event, ...]` is streamed instead of the default chunks (e.g. a real llama-server's).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.app import create_app
from runtime.clock import Clock
from runtime.errors import UpstreamError, UpstreamTimeout
from runtime.routing import TierState
from runtime.settings import Settings
from runtime.state import Runtime
from tests.runtime.fake_llama import USAGE_CHUNK, chunk, completion

OVERRUN_TOKENS = 100
EMBEDDING = {
    "object": "list", "model": "fake",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
    "usage": {"prompt_tokens": 4, "total_tokens": 4},
}  # fmt: skip


class FakeClock:
    """Settable time for create_app(clock=...): `advance(s)` moves both clocks."""

    def __init__(self, wall: float = 1_800_000_000.0) -> None:
        self.mono = 1000.0
        self.now = wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.mono, wall=lambda: self.now)


class _Lines:
    def __init__(self, status: int, body: bytes, lines: AsyncIterator[bytes] | None, idle_s: float, tier: str) -> None:
        self.status = status
        self._body = body
        self._lines = lines
        self._idle = idle_s
        self._tier = tier
        self.closed = False

    async def read(self) -> bytes:
        return self._body

    async def lines(self) -> AsyncIterator[bytes]:
        assert self._lines is not None, "a 2xx stream has lines"
        while True:
            try:
                line = await asyncio.wait_for(anext(self._lines), self._idle)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise UpstreamTimeout(f"tier {self._tier!r} did not answer in time (stream idle)") from exc
            yield line

    def close(self) -> None:
        self.closed = True
        if self._lines is not None:
            # Like dropping the connection: the fake's generator is cancelled where it waits.
            asyncio.ensure_future(self._lines.aclose())  # type: ignore[attr-defined]


class InProcessLlama:
    """One fake tier server; its `url` is what a tier's config points at."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.cancelled = 0
        self.streamed = 0
        self.active = 0
        self.peak = 0
        """Most non-streaming calls it was answering at once."""
        """Token chunks an "overrun" stream produced before it was closed."""
        self.embeddings_fail = False
        """Embeddings answer with the error of `mode` too (chat modes apply to chat otherwise)."""
        self.reply: tuple[int, dict[str, Any]] | None = None
        self.script: list[bytes] | None = None
        self.health = 200
        """What /health answers (llama-server: 503 while loading or shutting down)."""
        self.slots: int | None = None
        """`total_slots` in /props (None: no /props, as a non-llama server)."""

    @property
    def url(self) -> str:
        return f"http://{self.name}.fake.invalid"

    def _error(self) -> tuple[int, bytes] | None:
        if self.reply is not None:
            return self.reply[0], orjson.dumps(self.reply[1])
        if self.mode in ("500", "503"):
            return int(self.mode), orjson.dumps(
                {"error": {"message": f"fake {self.mode}", "type": "server_error", "code": int(self.mode)}}
            )
        if self.mode == "400":
            err = {"message": "the request exceeds the available context size", "type": "invalid_request_error"}
            return 400, orjson.dumps({"error": {**err, "code": 400}})
        return None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await self._post(path, body)
        finally:
            self.active -= 1

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        self.requests.append(body)
        if path == "/v1/embeddings":
            if self.embeddings_fail:
                return self._error() or (503, b'{"error": {"message": "loading model", "code": 503}}')
            return 200, orjson.dumps(EMBEDDING)
        error = self._error()
        if error is not None:
            return error
        if self.mode == "slow":
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if self.mode == "overrun":
            return 200, orjson.dumps(completion("word " * 100, completion_tokens=OVERRUN_TOKENS))
        return 200, orjson.dumps(completion())

    async def _stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        if self.script is not None:
            for event in self.script:
                yield event
            return
        try:
            if self.mode == "slow":
                await asyncio.sleep(self.delay)
            if self.mode == "not-sse":
                yield orjson.dumps(completion()) + b"\n"
                return
            if self.mode == "overrun":
                yield chunk({"role": "assistant", "content": ""})
                for _ in range(OVERRUN_TOKENS):
                    self.streamed += 1
                    yield chunk({"content": "word "})
                yield chunk({}, "length")
                yield b"data: [DONE]\n\n"
                return
            yield chunk({"role": "assistant", "content": "Hel"})
            if self.mode == "stall":
                await asyncio.sleep(3600)
            if self.mode == "crash":
                raise UpstreamError(f"tier {self.name!r}: ClientPayloadError: connection lost")
            yield chunk({"content": "lo"})
            yield chunk({"content": "!"})
            yield chunk({}, "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                yield USAGE_CHUNK
            yield b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise

    async def open(self, path: str, body: dict[str, Any], tier: TierState) -> _Lines:
        self.requests.append(body)
        error = self._error()
        if error is not None:
            return _Lines(error[0], error[1], None, tier.cfg.stream_idle_timeout_s, tier.name)
        return _Lines(200, b"", _split(self._stream(body)), tier.cfg.stream_idle_timeout_s, tier.name)


async def _split(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Chunks as lines, the way a socket reader yields them."""
    async for data in chunks:
        for line in data.split(b"\n")[:-1]:
            yield line + b"\n"


class FakeNetwork:
    """The Transport create_app(upstream=...) gets: routes each tier's call to its fake by URL."""

    def __init__(self, *fakes: InProcessLlama) -> None:
        self.fakes = {f.url: f for f in fakes}
        self.closed = False

    def _fake(self, tier: TierState) -> InProcessLlama:
        fake = self.fakes.get(tier.base_url)
        if fake is None:
            raise UpstreamError(
                f"tier {tier.name!r}: connection failed (nothing at {tier.base_url})", code="upstream_connect"
            )
        return fake

    async def post(self, tier: TierState, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(tier.cfg.timeout_s):
                return await self._fake(tier).post(path, orjson.loads(body))
        except TimeoutError as exc:
            raise UpstreamTimeout(f"tier {tier.name!r} did not answer in time") from exc

    async def open(self, tier: TierState, path: str, body: bytes) -> _Lines:
        return await self._fake(tier).open(path, orjson.loads(body), tier)

    async def get(self, url: str, api_key: str | None, timeout_s: float) -> tuple[int, bytes]:
        base, _, path = url.rpartition("/")
        fake = self.fakes.get(base)
        if fake is None:
            raise UpstreamError(f"{url}: connection failed (nothing there)", code="upstream_connect")
        if path == "props" and fake.slots is not None:
            return 200, orjson.dumps({"total_slots": fake.slots})
        return fake.health, b'{"status":"ok"}'

    async def close(self) -> None:
        self.closed = True


async def _lifespan(app: ASGIApp, state: dict[str, Any], stop: asyncio.Event, started: asyncio.Future[None]) -> None:
    sent_startup = False

    async def receive() -> Message:
        nonlocal sent_startup
        if not sent_startup:
            sent_startup = True
            return {"type": "lifespan.startup"}
        await stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set_result(None)
        elif message["type"] == "lifespan.startup.failed":
            started.set_exception(RuntimeError(f"the app failed to start: {message.get('message')}"))

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, receive, send)


@dataclass
class InProcessRouter:
    app: ASGIApp
    client: httpx.AsyncClient
    state: dict[str, Any]

    @property
    def rt(self) -> Runtime:
        rt: Runtime = self.state["rt"]
        return rt


@contextlib.asynccontextmanager
async def in_process(
    settings: Settings, *fakes: InProcessLlama, clock: FakeClock | None = None, **kwargs: Any
) -> AsyncIterator[InProcessRouter]:
    """create_app(settings) started (lifespan), served to an httpx client, stopped at the end."""
    network = FakeNetwork(*fakes)
    if clock is not None:
        kwargs["clock"] = clock.clock()
    app = create_app(settings, environ={}, upstream=lambda: network, **kwargs)
    state: dict[str, Any] = {}
    stop = asyncio.Event()
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    life = asyncio.ensure_future(_lifespan(app, state, stop, started))
    await asyncio.wait([started, life], return_when=asyncio.FIRST_COMPLETED)
    if life.done() and not started.done():
        life.result()
    started.result()

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["state"] = dict(state)
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=with_state)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://router.test", timeout=30) as client:
            yield InProcessRouter(app, client, state)
    finally:
        stop.set()
        await life
    assert network.closed, "the app closed its upstream transport on shutdown"
