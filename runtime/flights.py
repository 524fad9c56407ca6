"""Identical deterministic chat requests in flight at once share one upstream call; streamed answers
are stored in the response cache like whole ones.

`dispatch_shared(rt, call, creq, cache_mode)` is `dispatch` behind the gateway's `SingleFlight`
(runtime/singleflight.py) for whole answers of deterministic requests (temperature 0 or a seed)
with `cache_mode == "default"`, keyed by the response cache's exact key (tenant, model, messages,
answer parameters). The caller whose call ran gets its Outcome (its cost, its cache store); every
other caller gets the same body with `x-frugal-shared: 1` and `x-frugal-cost-usd: 0` (nothing was
called for it, nothing is charged) and no cache store, so the cache is written once.

`store_when_done(stream, answer, store)` wraps a stream's Outcome: once the client has been sent
the whole stream and it ended normally, the assembled answer is stored (in a task: the end of the
stream never waits for the cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from runtime.cache import CacheRequest
from runtime.cache.keys import exact_key, is_deterministic
from runtime.disconnect import ClientDisconnected
from runtime.pipeline import Call, Outcome, dispatch
from runtime.state import Runtime


async def dispatch_shared(rt: Runtime, call: Call, creq: CacheRequest, cache_mode: str) -> Outcome:
    if call.stream or cache_mode != "default" or not is_deterministic(creq.params):
        return await dispatch(rt, call)
    ran: list[Outcome] = []
    led: list[bool] = []

    async def run() -> Outcome:
        led.append(True)
        outcome = await dispatch(rt, call)
        ran.append(outcome)
        return outcome

    try:
        outcome = await rt.gateway.flights.do(exact_key(creq), run)
    except ClientDisconnected:
        if led:
            raise
        # The caller whose call it was went away (its disconnect ends its call): ask for ourselves.
        return await dispatch(rt, call)
    if ran and ran[0] is outcome:
        return outcome
    headers = {**outcome.headers, "x-frugal-shared": "1", "x-frugal-cost-usd": "0"}
    return Outcome(headers, body=outcome.body, tier=outcome.tier)


class StoredWhenDone:
    """The stream as sent; after its last chunk, `store(answer())` if the answer is whole."""

    def __init__(
        self,
        stream: AsyncIterator[bytes],
        answer: Callable[[], dict[str, Any] | None],
        store: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self._stream = stream
        self._answer = answer
        self._store = store
        self._tasks: set[asyncio.Task[None]] = set()

    def __aiter__(self) -> StoredWhenDone:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            body = self._answer()
            if body is not None:
                task = asyncio.ensure_future(self._store(body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            raise

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


__all__ = ["StoredWhenDone", "dispatch_shared"]
