"""Time `frugal plan --stack <stack> --json` end to end (a fresh process each run, as users run it).

Reports wall and CPU (user+sys) seconds, min and median over N runs. CPU time is the steadier
figure on a shared machine; wall time is what the target (< 3 s for prod) is about.

    .venv/bin/python bench/plan.py --stack prod --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_once(stack: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack", stack, "--json"],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    run_once(args.stack)  # warm the bytecode cache and the page cache; not counted
    samples = [run_once(args.stack) for _ in range(args.runs)]
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    print(
        json.dumps(
            {
                "command": f"frugal plan --stack {args.stack} --json",
                "runs": args.runs,
                "wall_s": {"min": round(min(walls), 3), "median": round(statistics.median(walls), 3)},
                "cpu_s": {"min": round(min(cpus), 3), "median": round(statistics.median(cpus), 3)},
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu_model": cpu_model(),
                    "python": platform.python_version(),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
