"""A scriptable fake llama-server (a real HTTP server on 127.0.0.1, in its own thread and loop).

`FakeLlama.mode` picks the behaviour of the next chat requests:
- "ok": a chat.completion (or an SSE stream ending with a usage chunk when stream=true, and usage
  only when stream_options.include_usage was sent, like llama-server);
- "500" / "503": that HTTP status with an OpenAI-shaped error;
- "slow": answer after `delay` seconds (for timeouts and client disconnects);
- "stall": a stream that sends one chunk and then nothing;
- "crash": a stream that sends one chunk and then drops the connection.
Every request body is kept in `requests`; handlers cancelled by a closed connection count in
`cancelled`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
from aiohttp import web


def completion(content: str = "Hello from the fake.", prompt: int = 12, completion_tokens: int = 5) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


USAGE_CHUNK = b"data: " + orjson.dumps({
    "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "fake",
    "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}) + b"\n\n"  # fmt: skip


class FakeLlama:
    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.cancelled = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        mode = self.mode
        try:
            if mode in ("500", "503"):
                err = {"error": {"message": f"fake {mode}", "type": "server_error", "code": int(mode)}}
                return web.json_response(err, status=int(mode))
            if mode == "400":
                err = {
                    "error": {
                        "message": "the request exceeds the available context size",
                        "type": "invalid_request_error",
                        "code": 400,
                    }
                }
                return web.json_response(err, status=400)
            if mode == "slow":
                await asyncio.sleep(self.delay)
            if not body.get("stream"):
                return web.Response(body=orjson.dumps(completion()), content_type="application/json")
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(chunk({"role": "assistant", "content": "Hel"}))
            if mode == "stall":
                await asyncio.sleep(3600)
            if mode == "crash":
                assert request.transport is not None, "live connection"
                request.transport.abort()
                return resp
            await resp.write(chunk({"content": "lo"}))
            await resp.write(chunk({"content": "!"}))
            await resp.write(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                await resp.write(USAGE_CHUNK)
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _props(self, request: web.Request) -> web.Response:
        return web.json_response({"total_slots": 2})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        return web.json_response({
            "object": "list", "model": "fake",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4},
        })  # fmt: skip

    def start(self) -> FakeLlama:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._chat)
            app.router.add_post("/v1/embeddings", self._embeddings)
            app.router.add_get("/health", self._health)
            app.router.add_get("/props", self._props)
            self._runner = web.AppRunner(app, handler_cancellation=True)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port or 0)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None and server.sockets, "listening"
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"fake-llama-{self.name}")
        self._thread.start()
        assert ready.wait(10), "fake llama started"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def wait_cancelled(self, n: int = 1, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.cancelled >= n:
                return True
            time.sleep(0.02)
        return False
