"""The router overhead benchmark (bench/router_overhead.py) for two checkouts side by side, in ONE run.

Both routers run at once against the same fast fake upstream, with the same wrk script and settings
as bench/router_overhead.py; each round measures the direct path, then BEFORE and AFTER (the order
alternates between rounds), so neighbour load hits both alike. Medians over rounds and AFTER/BEFORE
ratios. BEFORE is another checkout of this repository, e.g. `git worktree add /tmp/before <commit>`:
    .venv/bin/python bench/router_ab.py --before /tmp/before [--rounds 5 --seconds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.router_overhead import KEY, LUA, fmt, free_port, measure, process, wait_http, wrk  # noqa: E402


@contextmanager
def router(root: Path, upstream_port: int, tmp: Path) -> Iterator[str]:
    """That checkout's router with this checkout's benchmark configuration (bench/ab_serve.py), served
    as that checkout serves in production."""
    port = free_port()
    # That checkout's app under its own production HTTP protocol (bench/ab_serve.py), one worker.
    argv = [sys.executable, str(REPO / "bench" / "ab_serve.py"), str(port)]
    env = {
        "BENCH_UPSTREAM_PORT": str(upstream_port),
        "BENCH_DB": str(tmp / f"spend-{port}.sqlite3"),
        "BENCH_WORKERS": "1",
        "PYTHONPATH": str(root),
    }
    p = subprocess.Popen(argv, env={**os.environ, **env}, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        yield url
    finally:
        p.terminate()
        p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="checkout to compare against")
    ap.add_argument("--after", type=Path, default=REPO, help="default: this checkout")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=8, help="per wrk run")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frugal-ab-"))
    script = tmp / "body.lua"
    script.write_text(LUA % KEY)
    up = free_port()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; nproc {os.cpu_count()}; "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "before": [], "after": []}
    with process([sys.executable, "-m", "bench.fake_upstream", "--port", str(up)]):
        direct = f"http://127.0.0.1:{up}"
        wait_http(direct + "/health")
        with router(args.before.resolve(), up, tmp) as b_url, router(args.after.resolve(), up, tmp) as a_url:
            urls = {"before": b_url, "after": a_url}
            for url in urls.values():
                wrk(url, script, 8, 2)  # warm-up
            for i in range(args.rounds):
                order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
                runs["direct"].append(measure(direct, script, args.seconds))
                for name in order:
                    runs[name].append(measure(urls[name], script, args.seconds))
                print(f"round {i + 1} ({'/'.join(order)}): direct {fmt(runs['direct'][-1])} | "
                      f"before {fmt(runs['before'][-1])} | after {fmt(runs['after'][-1])}", flush=True)  # fmt: skip
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    print("\n| | p50 ms (1 conn) | p99 ms (1 conn) | req/s (64 conn) |\n|---|---|---|---|")
    for k in ("direct", "before", "after"):
        print(f"| {k} | {med[k]['p50']:.3f} | {med[k]['p99']:.3f} | {med[k]['rps']:.0f} |")
    b, a = med["before"], med["after"]
    print(f"| after / before | {a['p50'] / b['p50']:.2f}x | {a['p99'] / b['p99']:.2f}x | {a['rps'] / b['rps']:.2f}x |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
