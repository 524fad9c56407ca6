"""Time `frugal preview --stack <stack>` end to end (a fresh process per run, offline program run included).

Two conditions, N runs each, reported as min and median wall and CPU (user+sys) seconds:
- cold-ish: the bytecode caches (__pycache__) of the project and pulumi/pulumi_aws are removed before
  each run, so every module is compiled from source (the page cache is not dropped: that needs root);
- warm: bytecode in place, as `pip install` leaves it, restored with `compileall` after the cold runs
  (an import does not write it when PYTHONDONTWRITEBYTECODE is set, as on the build machine),
  after one uncounted warm-up run.
CPU time is the steadier figure on a shared machine; wall time is what the target (< 3 s) is about.

    .venv/bin/python bench/preview.py --stack prod --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

# Run as a script (`python bench/x.py`), so the repository root is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model, timed_run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _roots() -> list[Path]:
    import pulumi
    import pulumi_aws

    return [REPO / "infra", Path(pulumi.__file__).parent, Path(pulumi_aws.__file__).parent]


def drop_bytecode() -> None:
    """Remove __pycache__ of the project and of the Pulumi SDKs (the bulk of import time)."""
    for root in _roots():
        for cache in root.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def restore_bytecode() -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *map(str, _roots())],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_once(command: list[str]) -> tuple[float, float]:
    return timed_run(command, REPO)


def summary(samples: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return {
        "wall_s": {"min": round(min(walls), 3), "median": round(statistics.median(walls), 3)},
        "cpu_s": {"min": round(min(cpus), 3), "median": round(statistics.median(cpus), 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", default="table", choices=("table", "json"))
    parser.add_argument("--skip-cold", action="store_true", help="warm runs only (cold runs rewrite bytecode caches)")
    args = parser.parse_args()
    command = [sys.executable, "-m", "frugal", "preview", "--stack", args.stack, "--format", args.format]
    cold: list[tuple[float, float]] = []
    if not args.skip_cold:
        try:
            for _ in range(args.runs):
                drop_bytecode()
                cold.append(run_once(command))
        finally:
            restore_bytecode()
    run_once(command)  # warm-up: bytecode written, files in the page cache; not counted
    warm = [run_once(command) for _ in range(args.runs)]
    result = {
        "command": f"frugal preview --stack {args.stack} --format {args.format}",
        "runs": args.runs,
        "warm": summary(warm),
        **({"cold_bytecode": summary(cold)} if cold else {}),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "python": platform.python_version(),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        },
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
