"""Per-tier admission: at most one request per ready slot, a bounded queue behind it, and fast honest refusals.

    entry = admission.enter(priority)      # synchronous: a granted Permit, a queued Entry, or Rejected
    permit = await entry.wait()            # immediate when granted; else queued until a slot frees
    ...
    permit.release()                       # when the upstream call ends, however it ends

In flight is limited to `capacity()` (the sum of the tier's ready replicas' slots). Past that a
request waits in a FIFO queue (higher `priority` first, FIFO within one priority) of at most
`max_queue` entries, for at most `max_wait_s`. A full queue is refused at once (429); a wait that
runs out is refused when it does (429). Refusals carry `Retry-After` seconds estimated from what
the tier is doing: the queue ahead of the caller times the observed mean service time, divided by
the slots working on it.

Scale from zero: while a tier has no ready replica, a request queues for up to `wake_s` (the time
a node and a model server need to start) instead of `max_wait_s`; if none is ready by then it gets
503 with `Retry-After`, never 404. The queue figure KEDA scales on (`queue_figures`) counts these
waiting requests, which is what wakes the tier.

`enter()` never awaits: a refusal is decided from counters (bench/admission_reject.py measures it).
Queued waiters are granted by `pump()`, which runs on every release and should also run when the
replica set changes (ReplicaSet(on_change=admission.pump)). Deadlines are read from an injected
clock; `expire()` refuses the waiters whose deadline passed (a timer in production, the test's
clock in tests).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from runtime.errors import FrugalError

RETRY_AFTER_MIN_S = 1
RETRY_AFTER_MAX_S = 120


class Rejected(FrugalError):
    """Refused by admission; `retry_after_s` goes out as the Retry-After header."""

    status = 429
    type = "rate_limit_error"
    code = "overloaded"

    def __init__(self, message: str, retry_after_s: int, *, reason: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class TierAsleep(Rejected):
    """No replica of the tier became ready within the wake time (503, not 404: the tier exists)."""

    status = 503
    type = "server_error"
    code = "tier_unavailable"


@dataclass(frozen=True, slots=True)
class AdmissionMetrics:
    """Collectors owned by the app's registry, each labelled by `tier` (rejections also by `reason`)."""

    queue_depth: Gauge
    wait_seconds: Histogram
    rejections: Counter

    @classmethod
    def create(cls, registry: Any) -> AdmissionMetrics:
        return cls(
            Gauge("frugal_admission_queued", "Requests waiting for a slot", ["tier"], registry=registry),
            Histogram(
                "frugal_admission_wait_seconds",
                "Time admitted requests waited in the queue",
                ["tier"],
                buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                registry=registry,
            ),
            Counter(
                "frugal_admission_rejections",
                "Requests refused by admission (queue_full, wait_timeout, asleep)",
                ["tier", "reason"],
                registry=registry,
            ),
        )


@dataclass(eq=False)
class Permit:
    """A held slot; `release()` is idempotent and also feeds the service-time estimate."""

    admission: Admission
    granted_at: float
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.admission._release(self)

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(eq=False)
class Entry:
    """A place in line: `wait()` returns the Permit, or raises Rejected when the deadline passes."""

    admission: Admission
    priority: int
    enqueued_at: float
    deadline: float
    asleep: bool
    """Queued while the tier had no ready replica (wake time applies)."""
    future: asyncio.Future[Permit] | None = None
    permit: Permit | None = None
    done: bool = False

    async def wait(self) -> Permit:
        if self.permit is not None:
            return self.permit
        assert self.future is not None, "a queued entry has a future"
        timeout = max(0.0, self.deadline - self.admission.clock())
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), timeout)
        except TimeoutError:
            self.admission._expire_entry(self)
            return await self.future
        except asyncio.CancelledError:
            self.admission._abandon(self)
            raise


@dataclass(eq=False)
class Admission:
    tier: str
    capacity: Callable[[], int]
    """Slots of the ready replicas, read on every decision."""
    ready_replicas: Callable[[], int]
    max_queue: int = 64
    max_wait_s: float = 30.0
    wake_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    metrics: AdmissionMetrics | None = None
    default_service_s: float = 5.0
    """Service time assumed until one is observed (for Retry-After only)."""
    in_flight: int = 0
    queued: int = 0
    service_s: float = 0.0
    _heap: list[tuple[int, int, Entry]] = field(default_factory=list)
    _seq: Callable[[], int] = field(default_factory=lambda: itertools.count().__next__)

    # -- the decision ----------------------------------------------------------------------------

    def enter(self, priority: int = 0) -> Entry:
        """Admit now, queue, or raise Rejected; never awaits."""
        now = self.clock()
        ready = self.ready_replicas() > 0
        if ready and self.queued == 0 and self.in_flight < self.capacity():
            return Entry(self, priority, now, now, False, permit=self._grant(now), done=True)
        if self.queued >= self.max_queue:
            raise self._reject(
                "queue_full",
                f"tier {self.tier!r} is at capacity: {self.in_flight} in flight, {self.queued} queued "
                f"(limit {self.max_queue}); retry after the suggested delay",
                self._eta(self.queued),
                asleep=not ready,
            )
        entry = Entry(self, priority, now, now + (self.max_wait_s if ready else self.wake_s), not ready)
        entry.future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (-priority, self._seq(), entry))
        self.queued += 1
        self._gauge()
        return entry

    async def admit(self, priority: int = 0) -> Permit:
        return await self.enter(priority).wait()

    def retry_after(self) -> int:
        """Seconds a new request would likely wait now (the figure a refusal carries)."""
        return self._eta(self.queued)

    def _eta(self, ahead: int) -> int:
        if self.ready_replicas() == 0:
            # Nothing is serving: the honest figure is the time a replica takes to start.
            return min(RETRY_AFTER_MAX_S, max(RETRY_AFTER_MIN_S, math.ceil(self.wake_s)))
        service = self.service_s or self.default_service_s
        seconds = (ahead + 1) * service / max(1, self.capacity())
        return min(RETRY_AFTER_MAX_S, max(RETRY_AFTER_MIN_S, math.ceil(seconds)))

    def _reject(self, reason: str, message: str, retry_after_s: int, *, asleep: bool) -> Rejected:
        if self.metrics is not None:
            self.metrics.rejections.labels(self.tier, reason).inc()
        if asleep:
            return TierAsleep(
                f"tier {self.tier!r} has no ready replica (it may be starting from zero); {message}",
                retry_after_s,
                reason=reason,
            )
        return Rejected(message, retry_after_s, reason=reason)

    # -- granting --------------------------------------------------------------------------------

    def _grant(self, now: float) -> Permit:
        self.in_flight += 1
        return Permit(self, now)

    def _release(self, permit: Permit) -> None:
        self.in_flight -= 1
        held = self.clock() - permit.granted_at
        # An exponentially weighted mean follows a changing load without keeping a history.
        self.service_s = held if self.service_s == 0.0 else 0.8 * self.service_s + 0.2 * held
        self.pump()

    def pump(self) -> None:
        """Grant queued entries while slots are free (call when capacity may have grown)."""
        if not self._heap or self.ready_replicas() == 0:
            return  # nothing waits (every release of an uncontended tier), or nothing can serve
        capacity = self.capacity()
        while self._heap and self.in_flight < capacity:
            _, _, entry = heapq.heappop(self._heap)
            if entry.done:
                continue
            entry.done = True
            self.queued -= 1
            now = self.clock()
            permit = self._grant(now)
            entry.permit = permit
            if self.metrics is not None:
                self.metrics.wait_seconds.labels(self.tier).observe(now - entry.enqueued_at)
            assert entry.future is not None
            entry.future.set_result(permit)
        self._gauge()

    def expire(self) -> int:
        """Refuse every queued entry whose deadline has passed; returns how many."""
        now = self.clock()
        expired = [e for _, _, e in self._heap if not e.done and e.deadline <= now]
        for entry in expired:
            self._expire_entry(entry)
        return len(expired)

    def _expire_entry(self, entry: Entry) -> None:
        if entry.done:
            return
        entry.done = True
        self.queued -= 1
        self._gauge()
        asleep = self.ready_replicas() == 0
        waited = self.clock() - entry.enqueued_at
        exc = self._reject(
            "asleep" if asleep else "wait_timeout",
            f"waited {waited:.1f}s for a slot of tier {self.tier!r} (limit "
            f"{self.wake_s if entry.asleep else self.max_wait_s:g}s); retry after the suggested delay",
            self._eta(self.queued),
            asleep=asleep,
        )
        assert entry.future is not None
        entry.future.set_exception(exc)

    def _abandon(self, entry: Entry) -> None:
        """The caller went away: leave the queue, or hand back a slot granted in the same instant."""
        if not entry.done:
            entry.done = True
            self.queued -= 1
            self._gauge()
            if len(self._heap) > 2 * self.max_queue + 16:
                # Departed entries are skipped lazily; while nothing is granted (a tier asleep) they
                # would pile up, so the heap is rebuilt once they outnumber the live ones.
                self._heap = [item for item in self._heap if not item[2].done]
                heapq.heapify(self._heap)
        elif entry.permit is not None:
            entry.permit.release()
        if entry.future is not None and entry.future.done() and not entry.future.cancelled():
            entry.future.exception()  # retrieved, so asyncio does not log it as never retrieved

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.labels(self.tier).set(self.queued)

    def figures(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "in_flight": self.in_flight,
            "slots": self.capacity(),
            "ready_replicas": self.ready_replicas(),
        }


def queue_figures(admissions: Mapping[str, Admission]) -> dict[str, Any]:
    """The body of GET /internal/queue, read by KEDA's metrics-api scaler (docs/load-balancing.md)."""
    return {"tiers": {name: a.figures() for name, a in admissions.items()}}


def scaling_figures(tier: str, admission: Admission) -> dict[str, Any]:
    """The body of GET /internal/scaling/{tier}: what KEDA's metrics-api trigger reads for one tier.

    `demand` (in flight + queued) is its `valueLocation`; with `targetValue` = the tier's parallel
    slots per replica, KEDA asks for ceil(demand / slots) replicas, and a queued request wakes a
    tier at zero.
    """
    f = admission.figures()
    return {
        "tier": tier,
        "demand": f["in_flight"] + f["queued"],
        "in_flight": f["in_flight"],
        "queued": f["queued"],
        "ready_replicas": f["ready_replicas"],
    }


__all__ = [
    "Admission",
    "AdmissionMetrics",
    "Entry",
    "Permit",
    "Rejected",
    "TierAsleep",
    "queue_figures",
    "scaling_figures",
]
