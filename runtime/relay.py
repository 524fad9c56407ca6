"""Relaying one upstream SSE stream to the client, and charging it when it ends, however it ends.

Events are forwarded byte for byte, except the usage the client did not ask for (the router always
asks the upstream for usage, to charge it). A completed stream is charged its usage; a stream cut
short (upstream failure, stall, client gone) is charged by runtime/accounting.cut_short_charge.
The relay owns the attempt's resource scope (reservation, in-flight count, upstream connection):
closing the RelayStream closes it, even if the stream was never iterated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol

import orjson

from runtime.accounting import Bound, Charge, charge, cut_short_charge, usage_tokens
from runtime.budget import Hold
from runtime.errors import UpstreamFailure, sse_error_event
from runtime.metrics import Metrics
from runtime.routing import TierState
from runtime.upstream import DONE

CLIENT_CLOSED = 499
"""Status recorded in metrics when the client went away (nginx's convention; never sent)."""


class Resources(Protocol):
    async def aclose(self) -> None: ...


class RelayStream:
    """An async iterator of SSE bytes that releases the attempt's resources on `aclose()`."""

    def __init__(self, events: AsyncGenerator[bytes, None], resources: Resources) -> None:
        self._events = events
        self._resources = resources

    def __aiter__(self) -> RelayStream:
        return self

    async def __anext__(self) -> bytes:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        try:
            await self._events.aclose()
        finally:
            await self._resources.aclose()


async def relay(
    tier: TierState,
    bound: Bound,
    hold: Hold,
    first: bytes,
    events: AsyncIterator[bytes],
    include_usage: bool,
    t0: float,
    metrics: Metrics,
    now: Callable[[], float],
    on_failure: Callable[[], None],
    resources: Resources,
    settle: Callable[[Charge], Charge] | None = None,
) -> AsyncGenerator[bytes, None]:
    usage: tuple[int, int] | None = None
    chunks = 0
    status = 200
    completed = False
    try:
        event: bytes | None = first
        while event is not None:
            if event == DONE:
                completed = True
                # An SSE comment: ignored by OpenAI clients, readable by ours.
                cost = charge(tier.price, bound, usage).cost
                yield b": x-frugal-cost-usd=" + str(cost).encode() + b"\n\n" + DONE + b"\n\n"
                break
            out = event
            if b'"usage"' in event and event.startswith(b"data: "):
                chunk = orjson.loads(event[6:])
                u = usage_tokens(chunk)
                if u is not None:
                    usage = u
                if not include_usage:
                    if not chunk.get("choices"):
                        out = b""
                    elif "usage" in chunk:
                        del chunk["usage"]
                        out = b"data: " + orjson.dumps(chunk)
            else:
                chunks += 1
            if out:
                yield out + b"\n\n"
            event = await events.__anext__()
    except UpstreamFailure as exc:
        status = exc.status
        on_failure()
        yield sse_error_event(exc)
    except (asyncio.CancelledError, GeneratorExit):
        status = CLIENT_CLOSED
        raise
    finally:
        c: Charge = (
            charge(tier.price, bound, usage)
            if completed or usage is not None
            else cut_short_charge(tier.price, bound, chunks)
        )
        if settle is not None:
            c = settle(c)  # a continued stream charges each of its calls (runtime/resume.py)
        else:
            hold.charge(c.cost)
        metrics.observe(tier.name, status, now() - t0, c.prompt_tokens, c.completion_tokens, float(c.cost))
        await resources.aclose()
