"""Time `frugal plan --stack <stack> --json` end to end (a fresh process each run, as users run it).

Reports wall and CPU (user+sys) seconds, min and median over N runs. CPU time is the steadier
figure on a shared machine; wall time is what the target (< 3 s for prod) is about.

    .venv/bin/python bench/plan.py --stack prod --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

# Run as a script (`python bench/x.py`), so the repository root is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine, timed_run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def run_once(stack: str) -> tuple[float, float]:
    return timed_run([sys.executable, "-m", "frugal", "plan", "--stack", stack, "--json"], REPO)


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
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
