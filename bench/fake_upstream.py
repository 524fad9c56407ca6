"""A minimal, fast fake llama-server for benchmarks: answers every POST with one fixed
chat.completion and GET /health with 200, over keep-alive HTTP/1.1, on uvloop.

It does as little as possible (a byte search for the header end and Content-Length, no JSON
parsing) so that a benchmark measures the router, not the fake. Run: python -m bench.fake_upstream --port 9100
"""

from __future__ import annotations

import argparse
import asyncio

import orjson

COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
    }
)


def _response(body: bytes, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\nConnection: keep-alive\r\n\r\n" + body
    )  # fmt: skip


POST_REPLY = _response(COMPLETION)
HEALTH_REPLY = _response(b'{"status":"ok"}')
PROPS_REPLY = _response(b'{"total_slots":64}')


class FastHTTP(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = 0
            i = head.lower().find(b"content-length:")
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15 : j if j >= 0 else len(head)].strip())
            total = end + 4 + length
            if len(buf) < total:
                break
            if head.startswith(b"POST"):
                self.t.write(POST_REPLY)
            elif b"/props" in head[:40]:
                self.t.write(PROPS_REPLY)
            else:
                self.t.write(HEALTH_REPLY)
            buf = buf[total:]
        self.buf = buf


async def serve(host: str, port: int, seconds: float | None = None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastHTTP, host, port, backlog=1024, reuse_address=True)
    async with server:
        if seconds is None:
            await server.serve_forever()
        else:
            await asyncio.sleep(seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until killed)")
    args = p.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port, args.seconds))


if __name__ == "__main__":
    main()
