"""Completion tokens/s through the gateway vs straight to a real llama-server, side by side in ONE run.

    PYTHONPATH=. python -m bench.gateway_throughput [--parallel 1 2 4 --rounds 3 --tokens 64 --per-client 2]

For each `--parallel` P: one llama-server on the embedded small model with `--parallel P`, and the
router in front of it (a `replicas` tier listing that server; streams go through admission, the
replica lease and the continuation relay). Each round runs P concurrent streaming clients, each
asking `--per-client` answers of `--tokens` tokens (temperature 0.7, so the response cache and
single-flight stay out of it), directly and through the gateway, in alternating order; tokens/s
is the sum of the upstream-reported completion tokens over the wall time. Prints the machine, the
medians per P and the ratio gateway / direct, and the gateway process's own CPU time per completion
token relayed (a figure the neighbours' load does not inflate the way it does wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import machine  # noqa: E402
from bench.router_overhead import free_port, wait_http  # noqa: E402
from runtime.assets import llama_server_binary, small_model  # noqa: E402

FACTORY = """
import os
from runtime.app import create_app
from runtime.settings import settings_from_dict

def app():
    tier = {"name": "small", "replicas": {"urls": [os.environ["BENCH_LLAMA"]], "refresh_s": 2},
            "price": {"prompt_per_1k": "0.0001", "completion_per_1k": "0.0002"}}
    data = {"tiers": [tier], "budget": {"sqlite_path": os.environ["BENCH_DB"]}}
    return create_app(settings_from_dict(data, {}), environ={})
"""


def body(tokens: int, i: int) -> dict[str, object]:
    return {
        "model": "small",
        "messages": [{"role": "user", "content": f"Write a short story about a lighthouse keeper, number {i}."}],
        "max_tokens": tokens,
        "temperature": 0.7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def one_stream(session: aiohttp.ClientSession, url: str, payload: dict[str, object]) -> int:
    tokens = 0
    async with session.post(url + "/v1/chat/completions", json=payload) as r:
        if r.status != 200:
            raise AssertionError(f"{url} answered {r.status}: {(await r.read())[:300]!r}")
        async for line in r.content:
            if line.startswith(b"data: {") and b'"usage"' in line:
                usage = orjson.loads(line[6:]).get("usage")
                if usage:
                    tokens = int(usage["completion_tokens"])
    return tokens


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (what the gateway costs, whatever the load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(url: str, clients: int, per_client: int, tokens: int) -> float:
    # A fresh connection per answer for both targets: llama-server may close a kept-alive stream's connection.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def client(c: int) -> int:
            return sum([await one_stream(session, url, body(tokens, c * 100 + k)) for k in range(per_client)])

        t0 = time.perf_counter()
        total = sum(await asyncio.gather(*(client(c) for c in range(clients))))
        return total / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--per-client", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frugal-tput-"))
    (tmp / "gwfactory.py").write_text(FACTORY)
    binary, model = llama_server_binary(), small_model()
    out: dict[str, object] = {"machine": machine(), "load_before": os.getloadavg()[0]}
    for p in args.parallel:
        lport, gport = free_port(), free_port()
        llama = subprocess.Popen(
            # HTTP threads as the router's supervisor sizes them (2p + 3), plus the p connections the
            # direct client keeps alive into the gateway's turn.
            [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(lport), "--parallel", str(p),
             "--threads-http", str(3 * p + 3), "--ctx-size", str(1024 * p), "--no-webui"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        env = {**os.environ, "PYTHONPATH": f"{tmp}:{REPO}", "BENCH_LLAMA": f"http://127.0.0.1:{lport}",
               "BENCH_DB": str(tmp / f"spend-{p}.sqlite3")}  # fmt: skip
        gateway = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gwfactory:app", "--factory", "--host", "127.0.0.1", "--port",
             str(gport), "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            direct, through = f"http://127.0.0.1:{lport}", f"http://127.0.0.1:{gport}"
            wait_http(direct + "/health", 120)
            wait_http(through + "/readyz", 60)
            asyncio.run(throughput(through, p, 1, 8))  # warm-up (and the gateway's first probe)
            runs: dict[str, list[float]] = {"direct": [], "gateway": []}
            gateway_cpu, gateway_tokens = 0.0, 0
            for i in range(args.rounds):
                order = ["direct", "gateway"] if i % 2 == 0 else ["gateway", "direct"]
                for name in order:
                    url = direct if name == "direct" else through
                    c0, t0 = cpu_s(gateway.pid), time.perf_counter()
                    runs[name].append(asyncio.run(throughput(url, p, args.per_client, args.tokens)))
                    if name == "gateway":
                        gateway_cpu += cpu_s(gateway.pid) - c0
                        gateway_tokens += round(runs[name][-1] * (time.perf_counter() - t0))
                print(f"parallel {p} round {i + 1}: direct {runs['direct'][-1]:.1f} tok/s, "
                      f"gateway {runs['gateway'][-1]:.1f} tok/s", file=sys.stderr, flush=True)  # fmt: skip
            d, g = statistics.median(runs["direct"]), statistics.median(runs["gateway"])
            out[f"parallel_{p}"] = {
                "direct_tok_s": round(d, 1),
                "gateway_tok_s": round(g, 1),
                "ratio": round(g / d, 3),
                "gateway_cpu_ms_per_token": round(1000 * gateway_cpu / max(1, gateway_tokens), 3),
                "rounds": runs,
            }
        finally:
            for proc in (gateway, llama):
                proc.terminate()
                proc.wait(15)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
