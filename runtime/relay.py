"""Relaying one upstream SSE stream to the client, and charging it when it ends, however it ends.

Events are forwarded byte for byte, except the usage the client did not ask for (the router always
asks the upstream for usage, to charge it). A completed stream is charged its usage; a stream cut
short (upstream failure, stall, client gone) is charged by runtime/accounting.cut_short_charge.
The relay owns the attempt's resource scope (reservation, in-flight count, upstream connection):
closing the RelayStream closes it, even if the stream was never iterated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol

import orjson

from runtime.accounting import Bound, Charge, charge, cut_short_charge, usage_tokens
from runtime.budget import Hold
from runtime.errors import UpstreamFailure, sse_error_event
from runtime.metrics import Metrics
from runtime.routing import TierState
from runtime.upstream import DONE

log = logging.getLogger(__name__)
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


def _is_token(event: bytes) -> bool:
    """A chunk that carries generated text or a tool call (llama-server sends one token a chunk)."""
    if b'"tool_calls"' in event:
        return True
    for marker in (b'"content":"', b'"content": "'):
        at = event.find(marker)
        if at >= 0 and event[at + len(marker) : at + len(marker) + 1] != b'"':
            return True
    return False


def _length_finish(event: bytes) -> bytes:
    """The chunk that ends a stream cut at max_tokens, as OpenAI ends one: finish_reason "length"."""
    try:
        seen = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        seen = {}
    if not isinstance(seen, dict):
        seen = {}
    head = {k: seen[k] for k in ("id", "created", "model", "system_fingerprint") if k in seen}
    end = {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    return b"data: " + orjson.dumps(end) + b"\n\n"


def report_overrun(metrics: Metrics, tier: str, bound: Bound, c: Charge, how: str) -> None:
    """An upstream billed or sent more than the bound: counted and logged (the charge is already capped)."""
    metrics.overruns.labels(tier).inc()
    log.warning(
        "tier %r overran its bound (%s): bound %d prompt + %d completion tokens, upstream reported %d + %d; "
        "charged the reservation %s",
        tier, how, bound.prompt_tokens, bound.completion_tokens, c.prompt_tokens, c.completion_tokens, c.cost,
    )  # fmt: skip


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
    charge_calls: Callable[[Charge], Charge] | None = None,
) -> AsyncGenerator[bytes, None]:
    usage: tuple[int, int] | None = None
    chunks = 0
    tokens = 0
    status = 200
    completed = False
    cut_at_bound = False
    settled: Charge | None = None

    async def settle() -> Charge:
        """Charge, count and release the attempt, once. A complete stream does it before its last
        bytes leave, so an answer the client has in full is already recorded in the ledger."""
        nonlocal settled
        if settled is not None:
            return settled
        c: Charge
        if cut_at_bound:
            c = Charge(bound.worst_case(tier.price), bound.prompt_tokens, tokens, overrun=True)
        elif completed or usage is not None:
            c = charge(tier.price, bound, usage)
        else:
            c = cut_short_charge(tier.price, bound, chunks)
        settled = c
        if c.overrun:
            report_overrun(metrics, tier.name, bound, c, "stream cut at max_tokens" if cut_at_bound else "usage")
        if charge_calls is not None:
            c = charge_calls(c)  # a continued stream charges each of its calls (runtime/resume.py)
        else:
            hold.charge(c.cost)
        metrics.observe(tier.name, status, now() - t0, c.prompt_tokens, c.completion_tokens, float(c.cost))
        await resources.aclose()
        return c

    try:
        event: bytes | None = first
        while event is not None:
            if event != DONE and _is_token(event):
                tokens += 1
                if tokens > bound.completion_tokens:
                    # The upstream ignored max_tokens: stop relaying; settling closes the upstream call.
                    cut_at_bound = completed = True
                    c = await settle()
                    yield _length_finish(event)
                    yield b": x-frugal-cost-usd=" + str(c.cost).encode() + b"\n\n" + DONE + b"\n\n"
                    break
            if event == DONE:
                completed = True
                c = await settle()
                # An SSE comment: ignored by OpenAI clients, readable by ours.
                yield b": x-frugal-cost-usd=" + str(c.cost).encode() + b"\n\n" + DONE + b"\n\n"
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
        if settled is None:
            status = CLIENT_CLOSED
        raise
    finally:
        await settle()
