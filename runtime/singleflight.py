"""Single-flight: identical deterministic requests in flight at the same moment share one upstream call.

    flights = SingleFlight[str, bytes]()
    body = await flights.do(key, lambda: call_upstream())          # whole answers
    async for chunk in flights.stream(key, lambda: open_stream()):  # streams
        ...

The key is the response cache's key (same tenant scope, model, messages and answer-shaping
parameters), and only deterministic requests (temperature 0 or a fixed seed) should be keyed: two
sampled answers are not interchangeable.

The first caller of a key starts the call in its own task; callers that arrive while it runs wait
for the same result. A failure reaches every caller. One caller giving up (client disconnect,
cancellation) does not cancel the call while another still waits; the last one leaving cancels it.
A stream is fanned out: every chunk is kept for the life of the call, so a caller that joins late
first gets the chunks so far, then the live ones. The key is forgotten as soon as the call ends: this
shares calls in flight, it does not cache. Put the cache write inside `fn` (for a stream, after
its last chunk): it then runs once per upstream call, whoever asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(eq=False)
class _Call(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0


@dataclass(eq=False)
class _Broadcast(Generic[T]):
    chunks: list[T] = field(default_factory=list)
    ended: bool = False
    error: BaseException | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: int = 0
    task: asyncio.Task[None] | None = None


class SingleFlight(Generic[K, T]):
    """Keyed sharing of in-flight calls; `calls` counts the upstream calls actually started."""

    def __init__(self) -> None:
        self._calls: dict[K, _Call[T]] = {}
        self._streams: dict[K, _Broadcast[T]] = {}
        self.calls = 0
        self.shared = 0
        """Callers served by another caller's call."""

    def in_flight(self, key: K) -> bool:
        return key in self._calls or key in self._streams

    async def do(self, key: K, fn: Callable[[], Awaitable[T]]) -> T:
        """fn()'s result, from this caller's call or from the one already in flight for `key`."""
        call = self._calls.get(key)
        if call is None:
            self.calls += 1
            task = asyncio.ensure_future(fn())
            call = _Call(task)
            self._calls[key] = call
            task.add_done_callback(lambda _t: self._forget(self._calls, key, call))
        else:
            self.shared += 1
        call.waiters += 1
        try:
            return await asyncio.shield(call.task)
        except asyncio.CancelledError:
            if not call.task.done() and call.waiters == 1:
                call.task.cancel()
            raise
        finally:
            call.waiters -= 1

    def stream(self, key: K, fn: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """The chunks of fn()'s stream, started by this caller or joined (from its first chunk) if in flight."""
        b = self._streams.get(key)
        if b is None:
            self.calls += 1
            b = _Broadcast[T]()
            self._streams[key] = b
            b.task = asyncio.ensure_future(self._pump(key, b, fn))
        else:
            self.shared += 1
        b.listeners += 1
        return self._listen(b)

    async def _pump(self, key: K, b: _Broadcast[T], fn: Callable[[], AsyncIterator[T]]) -> None:
        source = fn()
        try:
            async for chunk in source:
                b.chunks.append(chunk)
                b.changed.set()
        except asyncio.CancelledError:
            b.error = asyncio.CancelledError()
            raise
        except Exception as exc:  # delivered to every listener, after the chunks they have not seen yet
            b.error = exc
        finally:
            b.ended = True
            b.changed.set()
            self._forget(self._streams, key, b)
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _listen(self, b: _Broadcast[T]) -> AsyncIterator[T]:
        seen = 0
        try:
            while True:
                while seen < len(b.chunks):
                    seen += 1
                    yield b.chunks[seen - 1]
                if b.ended:
                    if b.error is not None:
                        raise b.error
                    return
                b.changed.clear()
                await b.changed.wait()
        finally:
            b.listeners -= 1
            if b.listeners == 0 and not b.ended and b.task is not None:
                b.task.cancel()

    @staticmethod
    def _forget(table: dict[K, _Call[T]] | dict[K, _Broadcast[T]], key: K, entry: object) -> None:
        if table.get(key) is entry:
            del table[key]


__all__ = ["SingleFlight"]
