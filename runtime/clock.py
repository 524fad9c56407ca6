"""The app's two clocks, injectable so tests move time instead of sleeping.

`monotonic` measures intervals (latencies, circuit-breaker cooldowns); `wall` is UTC epoch seconds
(budget periods, `created` timestamps). create_app(settings, clock=...) passes one Clock to
everything that reads time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Clock:
    monotonic: Callable[[], float] = time.perf_counter
    wall: Callable[[], float] = time.time


SYSTEM_CLOCK = Clock()
