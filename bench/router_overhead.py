"""What the router adds over calling the upstream directly, measured in ONE run.

Processes (all on this machine, loopback only, every run bounded in time):
- a fast fake llama-server (bench/fake_upstream.py: fixed chat.completion, raw uvloop protocol);
- the router (`create_app` under uvicorn) with everything on the hot path: API-key auth, pydantic
  validation, the real response cache (runtime/cache: exact matching, as configured by default;
  every request is deterministic and unique, so every lookup misses, every answer is stored and
  the single-flight check runs), `model: auto` (complexity score and
  routing), a budget reservation and settlement in SQLite, cost accounting and Prometheus metrics;
- the load generator: wrk (Debian package), a separate process, with a Lua script that makes every
  request body unique.

For each round it measures direct and through-the-router: latency p50/p99 at 1 connection, and
req/s at 64 connections; it reports medians over rounds and the ratios. `--variants` also compares
uvicorn settings. Run:
    .venv/bin/python bench/router_overhead.py --rounds 3 [--variants]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# Run as a script (`python bench/x.py`), so the repository root is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model  # noqa: E402

KEY = "sk-bench-0123456789abcdef0123"
# A nonce per wrk run: the counter restarts with every run, and the cache keeps earlier runs'
# answers, so without it the second run onwards would measure cache hits, not the forwarding path.
LUA = """
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
nonce = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
counter = 0
request = function()
  counter = counter + 1
  local body = '{"model":"auto","messages":[{"role":"system","content":"You are terse."},' ..
    '{"role":"user","content":"What is the capital of France? Question ' .. nonce .. '-' .. counter .. '"}],' ..
    '"max_tokens":32,"temperature":0}'
  return wrk.format("POST", "/v1/chat/completions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}, body)
end
"""


def free_port() -> int:
    from runtime.supervisor import free_port as fp

    return fp()


def app_factory():  # type: ignore[no-untyped-def]
    """The router as the benchmark runs it (uvicorn --factory); config from BENCH_* variables."""
    from runtime.app import create_app
    from runtime.serve import tune_gc
    from runtime.settings import settings_from_dict

    app = create_app(settings_from_dict(bench_config(), {}), environ={})
    tune_gc()  # the collector settings the server entry applies in production
    return app


def bench_config() -> dict[str, object]:
    """The router's config: one remote tier at the fake upstream, one tenant, the default (real) cache."""
    return {
        "tiers": [
            {
                "name": "small",
                "url": f"http://127.0.0.1:{os.environ['BENCH_UPSTREAM_PORT']}",
                "price": {"prompt_per_1k": "0.0001", "completion_per_1k": "0.0002"},
                "max_complexity": 1.0,
                "slots": 64,  # the fake has no slot limit; keep the router's queue guard out of the way
            }
        ],
        "tenants": [{"name": "bench", "keys": [{"key": KEY}], "daily_budget_usd": "1000000"}],
        # several workers must share the ledger transactionally (exclusive mode allows one process)
        "budget": {"sqlite_path": os.environ["BENCH_DB"], "shared": os.environ.get("BENCH_WORKERS", "1") != "1"},
    }


@contextmanager
def process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield p
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    run = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 30,
    )
    out = run.stdout
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr}{out}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, f"wrk printed a {pct}% latency line:\n{out}"
        result[f"p{pct}"] = _ms(m.group(1), m.group(2))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} non-2xx responses; wrk said:\n{out}")
    return result


@contextmanager
def router(upstream_port: int, workers: int, loop: str, http: str, access_log: bool, tmp: Path) -> Iterator[str]:
    port = free_port()
    db = tmp / f"spend-{port}.sqlite3"
    argv = [
        sys.executable, "-m", "uvicorn", "bench.router_overhead:app_factory", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", loop, "--http", http, "--log-level", "warning",
    ]  # fmt: skip
    if not access_log:
        argv.append("--no-access-log")
    env = {
        "BENCH_UPSTREAM_PORT": str(upstream_port),
        "BENCH_DB": str(db),
        "BENCH_WORKERS": str(workers),
        "PYTHONPATH": str(Path.cwd()),
    }
    with process(argv, env):
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        yield url


def measure(url: str, script: Path, seconds: int) -> dict[str, float]:
    lat = wrk(url, script, 1, seconds)
    thr = wrk(url, script, 64, seconds)
    return {"p50": lat["p50"], "p99": lat["p99"], "rps_1": lat["rps"], "rps": thr["rps"]}


def complexity_timing() -> dict[str, float]:
    from runtime.complexity import score

    short = [{"role": "user", "content": "What is the capital of France?"}]
    long = [{"role": "system", "content": "Be helpful. " * 50}] + [
        {"role": "user" if i % 2 else "assistant", "content": "Explain why this works, step by step. " * 30}
        for i in range(10)
    ]
    out = {}
    for name, msgs in (("short chat", short), ("10 turns, 12 kB", long)):
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            score(msgs)
        out[name] = (time.perf_counter() - t0) / n * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8, help="per wrk run")
    ap.add_argument("--variants", action="store_true", help="also compare uvicorn settings (one round each)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found; fix: apt-get install wrk (make bench-deps)")
    tmp = Path(tempfile.mkdtemp(prefix="frugal-bench-"))
    script = tmp / "body.lua"
    script.write_text(LUA % KEY)
    up_port = free_port()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; nproc {os.cpu_count()}; {cpu_model()}; "
          f"Python {platform.python_version()}; load average before: {os.getloadavg()[0]:.2f}")  # fmt: skip
    with process([sys.executable, "-m", "bench.fake_upstream", "--port", str(up_port)]):
        direct_url = f"http://127.0.0.1:{up_port}"
        wait_http(direct_url + "/health")
        direct: list[dict[str, float]] = []
        routed: list[dict[str, float]] = []
        with router(up_port, 1, "uvloop", "httptools", False, tmp) as rurl:
            wrk(rurl, script, 8, 2)  # warm-up: connection pool, SQLite pages, metric children
            for i in range(args.rounds):
                direct.append(measure(direct_url, script, args.seconds))
                routed.append(measure(rurl, script, args.seconds))
                print(f"round {i + 1}: direct {fmt(direct[-1])} | router {fmt(routed[-1])}", flush=True)
        d, r = median(direct), median(routed)
        print("\n| | p50 ms (1 conn) | p99 ms (1 conn) | req/s (64 conn) |")
        print("|---|---|---|---|")
        print(f"| direct to the fake upstream | {d['p50']:.3f} | {d['p99']:.3f} | {d['rps']:.0f} |")
        print(f"| through the router | {r['p50']:.3f} | {r['p99']:.3f} | {r['rps']:.0f} |")
        print(f"| router added / ratio | +{r['p50'] - d['p50']:.3f} | +{r['p99'] - d['p99']:.3f} | "
              f"{r['rps'] / d['rps']:.2f}x of direct |")  # fmt: skip
        if args.variants:
            print("\n| uvicorn variant | p50 ms | p99 ms | req/s (64 conn) |")
            print("|---|---|---|---|")
            for workers, loop, http, log in (
                (1, "uvloop", "httptools", False),
                (1, "asyncio", "h11", True),
                (1, "uvloop", "httptools", True),
                (1, "asyncio", "httptools", False),
                (2, "uvloop", "httptools", False),
            ):
                with router(up_port, workers, loop, http, log, tmp) as rurl:
                    wrk(rurl, script, 8, 2)
                    m = measure(rurl, script, args.seconds)
                name = f"{workers} worker(s), {loop}, {http}, access log {'on' if log else 'off'}"
                print(f"| {name} | {m['p50']:.3f} | {m['p99']:.3f} | {m['rps']:.0f} |", flush=True)
    print("\n| complexity score | ms per call |\n|---|---|")
    for name, ms in complexity_timing().items():
        print(f"| {name} | {ms:.4f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


def fmt(m: dict[str, float]) -> str:
    return f"p50 {m['p50']:.3f} ms, p99 {m['p99']:.3f} ms, {m['rps']:.0f} req/s"


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


if __name__ == "__main__":
    main()
