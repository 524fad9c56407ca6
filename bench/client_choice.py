"""Which HTTP client, JSON library and validator the router's hot path uses, by measurement.

Runs the fast fake upstream (bench/fake_upstream.py) in a child process, then in this process:
1. the same 3000 sequential POSTs through httpx.AsyncClient, aiohttp.ClientSession and the router's
   lean client (runtime/http1.py), all keep-alive, and 64-way concurrent batches, reporting
   microseconds per request (wall) and CPU microseconds per request (this process);
2. json vs orjson: decode a typical chat request and encode it back;
3. pydantic (runtime.schema.ChatRequest, strict) vs msgspec (an equivalent Struct): validate it.
Run: .venv/bin/python bench/client_choice.py   (results go to docs/benchmarks.md by hand)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import orjson

from runtime.http1 import Http1Client

N = 3000
CONCURRENT = 64
REQUEST = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France? Answer in one word, please."},
    ],
    "max_tokens": 32,
    "temperature": 0.2,
}
RAW = orjson.dumps(REQUEST)


def per_call_us(fn: Any, n: int = 20000) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


async def clients(url: str) -> dict[str, float]:
    import aiohttp
    import httpx

    out: dict[str, float] = {}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENT)) as hc:
        for _ in range(200):
            await hc.post(url, content=RAW)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(N):
            _ = (await hc.post(url, content=RAW)).content
        out["httpx sequential"] = (time.perf_counter() - t0) / N * 1e6
        out["httpx sequential, CPU"] = (time.process_time() - c0) / N * 1e6
        t0 = time.perf_counter()
        for _ in range(N // CONCURRENT):
            await asyncio.gather(*(hc.post(url, content=RAW) for _ in range(CONCURRENT)))
        out["httpx 64-concurrent"] = (time.perf_counter() - t0) / (N // CONCURRENT * CONCURRENT) * 1e6
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENT)) as ac:

        async def one() -> bytes:
            async with ac.post(url, data=RAW) as r:
                return await r.read()

        for _ in range(200):
            await one()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(N):
            await one()
        out["aiohttp sequential"] = (time.perf_counter() - t0) / N * 1e6
        out["aiohttp sequential, CPU"] = (time.process_time() - c0) / N * 1e6
        t0 = time.perf_counter()
        for _ in range(N // CONCURRENT):
            await asyncio.gather(*(one() for _ in range(CONCURRENT)))
        out["aiohttp 64-concurrent"] = (time.perf_counter() - t0) / (N // CONCURRENT * CONCURRENT) * 1e6
    lean = Http1Client()

    async def lean_one() -> tuple[int, bytes]:
        return await lean.request(b"POST", url, {"Content-Type": "application/json"}, RAW, timeout_s=60)

    for _ in range(200):
        await lean_one()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(N):
        await lean_one()
    out["lean http1 sequential"] = (time.perf_counter() - t0) / N * 1e6
    out["lean http1 sequential, CPU"] = (time.process_time() - c0) / N * 1e6
    t0 = time.perf_counter()
    for _ in range(N // CONCURRENT):
        await asyncio.gather(*(lean_one() for _ in range(CONCURRENT)))
    out["lean http1 64-concurrent"] = (time.perf_counter() - t0) / (N // CONCURRENT * CONCURRENT) * 1e6
    lean.close()
    return out


def codecs() -> dict[str, float]:
    from runtime.schema import ChatRequest

    payload = json.loads(RAW)
    out = {
        "json.loads": per_call_us(lambda: json.loads(RAW)),
        "orjson.loads": per_call_us(lambda: orjson.loads(RAW)),
        "json.dumps": per_call_us(lambda: json.dumps(payload).encode()),
        "orjson.dumps": per_call_us(lambda: orjson.dumps(payload)),
        "pydantic validate (dict)": per_call_us(lambda: ChatRequest.model_validate(payload)),
    }
    try:
        import msgspec  # not a dependency: the comparison runs where it is installed
    except ImportError:
        return out

    class Msg(msgspec.Struct, forbid_unknown_fields=False):  # type: ignore[misc]
        role: str
        content: str | list[dict[str, Any]] | None = None

    class Req(msgspec.Struct, forbid_unknown_fields=False):  # type: ignore[misc]
        messages: list[Msg]
        model: str | None = None
        stream: bool = False
        max_tokens: int | None = None
        temperature: float | None = None

    out["msgspec convert (dict)"] = per_call_us(lambda: msgspec.convert(payload, Req))
    out["msgspec decode (bytes)"] = per_call_us(lambda: msgspec.json.decode(RAW, type=Req))
    return out


def main() -> None:
    from runtime.supervisor import free_port

    port = free_port()
    up = subprocess.Popen([sys.executable, "-m", "bench.fake_upstream", "--port", str(port), "--seconds", "120"])
    try:
        time.sleep(1.0)
        import uvloop

        results = uvloop.run(clients(f"http://127.0.0.1:{port}/v1/chat/completions"))
    finally:
        up.terminate()
        up.wait()
    results.update(codecs())
    width = max(map(len, results))
    for name, us in results.items():
        print(f"{name:<{width}}  {us:8.1f} us/op")


if __name__ == "__main__":
    main()
