"""Draining the gateway: stop taking requests, finish the ones it has, then let the process exit.

    drain = Drain(grace_s=90)
    ticket = drain.enter()          # per request, before admission; raises Draining once draining
    ...                             # queued or in flight
    ticket.release()
    drain.start()                   # SIGTERM, POST /internal/drain, or `frugal drain`
    drained = await drain.wait()    # True: every request finished; False: the grace ran out

From `start()` on, `ready` is False (so /readyz answers 503 and the Service stops sending traffic),
and every new request is refused with 503 and `Retry-After` (the client retries and lands on another
gateway replica). Requests already admitted or queued keep going. `wait()` resolves as soon as the
last of them releases its ticket, or when `grace_s` has passed since `start()`. The default grace
(90 s) leaves 30 s of a spot instance's two-minute notice for the supervisor to stop the local
llama-servers and for the process to exit.

`install_signal_handlers` hooks SIGTERM into a running loop: start the drain, wait, then call
`on_drained(drained)`, which is where the server is told to exit (uvicorn: `server.should_exit`).
The sleep is injectable so tests move time without waiting for it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import FrugalError

DEFAULT_GRACE_S = 90.0


class Draining(FrugalError):
    """The gateway is shutting down; another replica (or this one, restarted) will answer."""

    status = 503
    type = "server_error"
    code = "draining"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


@dataclass(eq=False)
class Ticket:
    """One request counted by the drain; `release()` is idempotent."""

    drain: Drain
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.drain._left()

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(eq=False)
class Drain:
    grace_s: float = DEFAULT_GRACE_S
    retry_after_s: int = 2
    """What a refused client is told: a retry soon lands on another gateway replica."""
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    in_flight: int = 0
    started_at: float | None = None
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.grace_s < 0:
            raise ValueError(f"drain grace_s must be >= 0 seconds, got {self.grace_s}")
        self._idle.set()

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    @property
    def ready(self) -> bool:
        return self.started_at is None

    def enter(self) -> Ticket:
        """Count a new request, or raise Draining (503) if the drain has started; never awaits."""
        if self.started_at is not None:
            raise Draining("the gateway is shutting down; retry (another replica will answer)", self.retry_after_s)
        self.in_flight += 1
        self._idle.clear()
        return Ticket(self)

    def _left(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def start(self) -> None:
        """Begin draining (idempotent: a second SIGTERM does not restart the grace)."""
        if self.started_at is None:
            self.started_at = self.clock()

    async def wait(self) -> bool:
        """After start(): True once no request is left, False if the grace ran out first."""
        if self.started_at is None:
            raise RuntimeError("Drain.wait() before Drain.start(): nothing is draining")
        remaining = max(0.0, self.grace_s - (self.clock() - self.started_at))
        idle = asyncio.ensure_future(self._idle.wait())
        grace = asyncio.ensure_future(self.sleep(remaining))
        try:
            await asyncio.wait({idle, grace}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (idle, grace):
                t.cancel()
        return self.in_flight == 0

    def status(self) -> dict[str, Any]:
        """The body of GET /internal/drain (what `frugal drain --wait` polls)."""
        elapsed = None if self.started_at is None else round(self.clock() - self.started_at, 3)
        return {
            "draining": self.draining,
            "in_flight": self.in_flight,
            "drained": self.draining and self.in_flight == 0,
            "grace_s": self.grace_s,
            "elapsed_s": elapsed,
        }


def install_signal_handlers(
    loop: asyncio.AbstractEventLoop,
    drain: Drain,
    on_drained: Callable[[bool], None],
    signals: Iterable[signal.Signals] = (signal.SIGTERM,),
) -> Callable[[], asyncio.Task[None]]:
    """On any of `signals`: start the drain, wait for it, then on_drained(drained). Returns the trigger
    (what the admin endpoint calls too), which starts at most one drain task."""
    task: asyncio.Task[None] | None = None

    async def run() -> None:
        drain.start()
        on_drained(await drain.wait())

    def trigger() -> asyncio.Task[None]:
        nonlocal task
        if task is None:
            task = loop.create_task(run(), name="gateway-drain")
        return task

    for sig in signals:
        loop.add_signal_handler(sig, trigger)
    return trigger


__all__ = ["DEFAULT_GRACE_S", "Drain", "Draining", "Ticket", "install_signal_handlers"]
