"""Overload through the whole router, two checkouts side by side in ONE run: how fast the excess is
refused (429), that every admitted request succeeds, and the router's memory before and after.

    PYTHONPATH=. python -m bench.gateway_overload --before /tmp/before [--waves 10 --factor 10]

Both routers front the same slow fake upstream (every answer takes `--delay` s) with one tier of
`--slots` slots. AFTER admits slots + `--queue` (admission: in flight up to the slots, a bounded
queue); BEFORE refuses past 4 x slots in flight (its queue guard); with the defaults both admit 16.
Each wave sends `--factor` x 16 concurrent requests to each router (order alternating), and
records each response's status and latency as the client saw it. Prints the machine, per router
p50/p99 of the 429s, the admitted count and their success, and VmRSS before the first and after
the last wave.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import machine  # noqa: E402
from bench.router_overhead import free_port, wait_http  # noqa: E402

FACTORY = """
import os
from runtime.app import create_app
from runtime.settings import settings_from_dict

def app():
    tier = {{"name": "small", "url": "http://127.0.0.1:{up}", "slots": {slots},
            "price": {{"prompt_per_1k": "0.0001", "completion_per_1k": "0.0002"}}}}
    if os.environ.get("BENCH_ADMISSION"):
        tier["admission"] = {{"max_queue": {queue}, "max_wait_s": 60}}
    data = {{"tiers": [tier], "budget": {{"sqlite_path": os.environ["BENCH_DB"]}}, "cache": {{"enabled": False}}}}
    return create_app(settings_from_dict(data, {{}}), environ={{}})
"""
BODY = {"model": "small", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}


async def slow_upstream(port: int, delay: float) -> None:
    from aiohttp import web

    answer = {
        "id": "x", "object": "chat.completion", "created": 0, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }  # fmt: skip

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay)
        return web.json_response(answer)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@contextmanager
def router(root: Path, factory_dir: Path, admission: bool, tmp: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "gwfactory:app", "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{factory_dir}:{root}", "BENCH_DB": str(tmp / f"spend-{port}.sqlite3")}
    if admission:
        env["BENCH_ADMISSION"] = "1"
    p = subprocess.Popen(argv, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        yield url, p.pid
    finally:
        p.terminate()
        p.wait(10)


async def wave(session: aiohttp.ClientSession, url: str, n: int) -> list[tuple[int, float, bool]]:
    async def one() -> tuple[int, float, bool]:
        t0 = time.perf_counter()
        try:
            async with session.post(url + "/v1/chat/completions", json=BODY) as r:
                await r.read()
                return r.status, time.perf_counter() - t0, "Retry-After" in r.headers
        except aiohttp.ClientError:
            return 0, time.perf_counter() - t0, False  # counted as neither refused nor answered

    return await asyncio.gather(*(one() for _ in range(n)))


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


async def run(urls: dict[str, tuple[str, int]], waves: int, n: int, delay: float) -> dict[str, dict[str, float]]:
    res: dict[str, list[tuple[int, float, bool]]] = {k: [] for k in urls}
    rss0 = {k: rss_kib(pid) for k, (_, pid) in urls.items()}
    conn = aiohttp.TCPConnector(limit=0, force_close=True)  # a fresh connection per request, for both
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for url, _ in urls.values():
            await wave(session, url, 4)  # warm-up
        for i in range(waves):
            order = list(urls) if i % 2 == 0 else list(reversed(urls))
            for k in order:
                res[k] += await wave(session, urls[k][0], n)
                await asyncio.sleep(delay)
    out: dict[str, dict[str, float]] = {}
    for k, rows in res.items():
        rejected = [t for s, t, _ in rows if s == 429]
        admitted = [s for s, _, _ in rows if s != 429]
        out[k] = {
            "requests": len(rows),
            "rejected": len(rejected),
            "rejected_with_retry_after": sum(1 for s, _, ra in rows if s == 429 and ra),
            "admitted": len(admitted),
            "admitted_ok": sum(1 for s in admitted if s == 200),
            "transport_errors": sum(1 for s in admitted if s == 0),
            "reject_p50_ms": round(pct(rejected, 0.5) * 1000, 2),
            "reject_p99_ms": round(pct(rejected, 0.99) * 1000, 2),
            "rss_before_kib": rss0[k],
            "rss_after_kib": rss_kib(urls[k][1]),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="checkout to compare against")
    ap.add_argument("--waves", type=int, default=10)
    ap.add_argument("--factor", type=int, default=10, help="requests per wave = factor x (slots + queue)")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--queue", type=int, default=12)
    ap.add_argument("--delay", type=float, default=0.5, help="upstream answer time, s")
    ap.add_argument("--upstream", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.upstream is not None:
        asyncio.run(slow_upstream(args.upstream, args.delay))
        return
    tmp = Path(tempfile.mkdtemp(prefix="frugal-overload-"))
    up = free_port()
    (tmp / "gwfactory.py").write_text(FACTORY.format(up=up, slots=args.slots, queue=args.queue))
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway_overload", "--before", ".", "--upstream", str(up), "--delay",
         str(args.delay)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{up}/health")
        n = args.factor * (args.slots + args.queue)
        with (
            router(args.before.resolve(), tmp, False, tmp) as before,
            router(REPO, tmp, True, tmp) as after,
        ):
            result = asyncio.run(run({"before": before, "after": after}, args.waves, n, args.delay * 1.5))
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(json.dumps({"machine": machine(), "per_wave": n, "waves": args.waves, **result}, indent=2))


if __name__ == "__main__":
    main()
