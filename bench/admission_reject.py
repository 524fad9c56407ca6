"""How long admission takes to refuse a request when the tier's queue is full (the overload path).

    PYTHONPATH=. python -m bench.admission_reject [--n 200000]

Times `Admission.enter()` raising Rejected, one call at a time with perf_counter_ns, on a tier
whose slots and queue are full; prints the machine and p50/p99/max in microseconds as JSON. The
refusal reads counters only (no await), so this is the whole cost admission adds to a 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time

from prometheus_client import CollectorRegistry

from bench.machine import machine
from runtime.admission import Admission, AdmissionMetrics, Rejected


async def measure(n: int) -> dict[str, float]:
    a = Admission("small", lambda: 8, lambda: 2, max_queue=32, metrics=AdmissionMetrics.create(CollectorRegistry()))
    for _ in range(8 + 32):
        a.enter()
    assert a.queued == 32, "the queue is full before timing"
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        with contextlib.suppress(Rejected):
            a.enter()
        samples.append(clock() - t0)
    samples.sort()
    return {
        "n": n,
        "p50_us": samples[n // 2] / 1000,
        "p99_us": samples[int(n * 0.99)] / 1000,
        "max_us": samples[-1] / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    print(json.dumps({"machine": machine(), "rejection": asyncio.run(measure(args.n))}, indent=2))


if __name__ == "__main__":
    main()
