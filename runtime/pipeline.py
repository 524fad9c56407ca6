"""The one dispatch pipeline: every upstream call (chat, streamed chat, embeddings) goes through it.

    dispatch(rt, call) -> Outcome

For the tiers of `call.decision.chain`, in order: drop the tiers whose circuit is open (503 if
none is left; tiers at zero replicas go last, runtime/gateway.py), then per tier:

0. an admission permit (runtime/gateway.py Gate.admit: 429/503 with Retry-After moves on to the
   next tier, or is the answer on the last); the call goes to the tier's replica with the most
   free slots and, after a 503 or a connection failure, to another replica before the next tier;
1. the call's bound for this tier (None skips the tier, e.g. over its max_tokens limit);
2. a reservation of the bound's worst-case cost (runtime/budget/ledger.py `reserved`); a refusal
   on the first tier is the answer, on a later one skips it;
3. the circuit breaker's trial, the tier's in-flight count;
4. the upstream call, cancelled if the client disconnects (runtime/disconnect.py), its answer put
   in OpenAI's shape for this client (`call.shape`, runtime/openai_shape.py);
5. on a retryable failure: the breaker counts it, the fallback metric too, and the next tier is
   tried; on the upstream's own 4xx: no fallback, the client gets it.

The permit, the replica lease, the reservation, the in-flight count and an open upstream stream
are one resource scope
(AttemptScope). A whole answer is charged and settled before dispatch returns; a stream hands the
scope to its relay (runtime/relay.py), which settles when the stream ends, however it ends.
Costs and bounds come from runtime/accounting.py only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from runtime.accounting import Bound, charge
from runtime.admission import Rejected
from runtime.auth import TenantInfo
from runtime.budget import reserved
from runtime.disconnect import ClientDisconnected, Receive, cancel_on_disconnect
from runtime.errors import BudgetExceeded, FrugalError, UpstreamFailure, UpstreamUnavailable
from runtime.openai_shape import ChatShape, EmbeddingsShape, ShapedEvents
from runtime.relay import CLIENT_CLOSED, RelayStream, relay, report_overrun
from runtime.resume import resumable
from runtime.routing import Decision, TierState
from runtime.state import Runtime
from runtime.upstream import UpstreamStream


@dataclass
class Outcome:
    """What the HTTP layer needs to answer."""

    headers: dict[str, str]
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    parsed: dict[str, Any] | None = None
    """The upstream's parsed answer (whole answers only)."""
    tier: str | None = None
    after: Callable[[], Awaitable[None]] | None = None
    """Work to run once the response is sent (cache store)."""
    answer: Callable[[], dict[str, Any] | None] | None = None
    """A stream's whole answer as a chat.completion once it ended normally (runtime/resume.py), else None."""


@dataclass
class Call:
    """One request as the attempt loop sees it; the endpoint (chat, embeddings) fills it in."""

    tenant: TenantInfo
    path: str
    decision: Decision
    bound: Callable[[TierState, bool], Bound | None]
    """(tier, is_first_in_chain) -> the most this call may bill on that tier, or None to skip it."""
    body: Callable[[TierState, Bound], bytes]
    usage: Callable[[dict[str, Any]], tuple[int, int] | None]
    nothing_fits: Callable[[], FrugalError]
    """The error when every tier was skipped by its bound."""
    receive: Receive | None = None
    stream: bool = False
    include_usage: bool = False
    resumable: bool = False
    """A stream cut mid-answer is continued on another replica or tier (chat; runtime/resume.py)."""
    failed: list[str] = field(default_factory=list)
    """`tier:code` of each tier that failed before the one that answered (x-frugal-fallback)."""
    shape: Callable[[TierState], ChatShape | EmbeddingsShape] | None = None
    """How a tier's answer is put in OpenAI's shape for this client (runtime/openai_shape.py)."""


def record_failure(rt: Runtime, tier: TierState, moved_on: bool) -> None:
    tier.breaker.on_failure()
    m = rt.metrics
    m.circuit.labels(tier.name).set(tier.breaker.state)
    if moved_on:
        m.fallbacks.labels(tier.name).inc()


def record_success(rt: Runtime, tier: TierState) -> None:
    if tier.breaker.state:
        tier.breaker.on_success()
        rt.metrics.circuit.labels(tier.name).set(0)
    else:
        tier.breaker.consecutive = 0


def _headers(call: Call, tier: TierState) -> dict[str, str]:
    decision = call.decision
    h = {
        "x-frugal-tier": tier.name,
        "x-frugal-fallback": ",".join(call.failed) if call.failed else "0",
        "x-frugal-route": decision.reason,
    }
    if decision.score is not None:
        h["x-frugal-complexity"] = str(decision.score)
    return h


def _leave(tier: TierState) -> None:
    tier.in_flight -= 1


async def dispatch(rt: Runtime, call: Call) -> Outcome:
    """Answer `call` from the first tier of its chain that can (see the module docstring)."""
    chain = rt.gateway.usable(call.decision.chain)
    if not chain:
        names = ", ".join(t.name for t in call.decision.chain)
        raise UpstreamUnavailable(f"no tier is ready ({names}); retry shortly")
    last: FrugalError | None = None
    for i, tier in enumerate(chain):
        bound = call.bound(tier, i == 0)
        if bound is None:
            continue
        try:
            return await _attempt(rt, call, tier, bound)
        except BudgetExceeded:
            if i == 0:
                raise
        except Rejected as exc:  # admission: this tier's queue is full or its wait ran out
            if i + 1 == len(chain):
                raise
            last = exc
        except UpstreamFailure as exc:
            if not exc.retryable:
                record_success(rt, tier)  # the server answered; the request was at fault
                raise
            record_failure(rt, tier, moved_on=i + 1 < len(chain))
            call.failed.append(f"{tier.name}:{exc.code}")
            last = exc
    raise last if last is not None else call.nothing_fits()


class AttemptScope:
    """The resources of one attempt: its reservation, its in-flight slot, an open upstream stream.
    `aclose()` releases them all, once; a stream's relay takes the scope over."""

    __slots__ = ("reservation", "tier", "upstream", "open", "releases", "closers")

    def __init__(self, reservation: reserved, tier: TierState) -> None:
        self.reservation = reservation
        self.tier = tier
        self.upstream: UpstreamStream | None = None
        self.open = True
        self.releases: list[Callable[[], None]] = []
        """Admission permit, replica leases, continuation streams (runtime/gateway.py, runtime/resume.py)."""
        self.closers: list[Callable[[], Awaitable[None]]] = []
        """Continuation reservations, settled after the first one."""

    async def aclose(self) -> None:
        if not self.open:
            return
        self.open = False
        if self.upstream is not None:
            self.upstream.close()
        self.tier.in_flight -= 1
        for release in self.releases:
            release()
        await self.reservation.__aexit__(None, None, None)
        for close in self.closers:
            await close()


async def _attempt(rt: Runtime, call: Call, tier: TierState, bound: Bound) -> Outcome:
    now = rt.clock.monotonic
    gate = rt.gateway.gate(tier.name)
    permit = await gate.admit(call.receive, call.tenant.priority)  # Rejected / TierAsleep; ClientDisconnected
    reservation = reserved(rt.budget, call.tenant, bound.worst_case(tier.price))
    # The permit and the in-flight count are taken before the reservation is awaited, so a burst
    # cannot pass admission while its reservations are pending.
    tier.in_flight += 1
    try:
        hold = await reservation.__aenter__()  # BudgetExceeded, LedgerUnavailable: nothing is held
    except BaseException:
        tier.in_flight -= 1
        permit.release()
        raise
    tier.breaker.on_attempt()
    scope = AttemptScope(reservation, tier)
    scope.releases.append(permit.release)
    relayed = False
    try:
        t0 = now()
        body = call.body(tier, bound)
        shape = call.shape(tier) if call.shape is not None else None
        try:
            with cancel_on_disconnect(call.receive):
                if call.stream:
                    up, events, first, lease = await gate.open(rt.upstream, call.path, body, scope.releases)
                    scope.upstream = up
                    if isinstance(shape, ChatShape):
                        events = ShapedEvents(events, shape)
                        first = shape.event(first)
                else:
                    raw, parsed = await gate.post(rt.upstream, call.path, body, scope.releases)
                    if shape is not None:
                        parsed = shape.body(parsed)
                        raw = orjson.dumps(parsed)
        except ClientDisconnected:
            rt.metrics.observe(tier.name, CLIENT_CLOSED, now() - t0, 0, 0, 0)
            raise
        record_success(rt, tier)
        headers = _headers(call, tier)
        if call.stream:
            rt.metrics.ttft.labels(tier.name).observe(now() - t0)
            headers["x-frugal-cost-usd-max"] = str(bound.worst_case(tier.price))

            def failed_mid_stream() -> None:
                record_failure(rt, tier, moved_on=False)  # bytes were sent: too late for another tier

            settle = answer = None
            if call.resumable:
                events, settle, answer = resumable(
                    rt, call.tenant, call.path, call.decision.chain, tier, bound, hold, body, first, events, lease, up,
                    scope,
                )  # fmt: skip
                first = await events.__anext__()
            stream = relay(
                tier, bound, hold, first, events, call.include_usage, t0, rt.metrics, now, failed_mid_stream, scope,
                charge_calls=settle,
            )  # fmt: skip
            relayed = True
            return Outcome(headers, stream=RelayStream(stream, scope), tier=tier.name, answer=answer)
        c = charge(tier.price, bound, call.usage(parsed))
        if c.overrun:
            report_overrun(rt.metrics, tier.name, bound, c, "usage")
        hold.charge(c.cost)
        rt.metrics.observe(tier.name, 200, now() - t0, c.prompt_tokens, c.completion_tokens, float(c.cost))
    finally:
        if not relayed:
            await scope.aclose()  # a whole answer is settled before it is sent
    headers["x-frugal-cost-usd"] = str(c.cost)
    return Outcome(headers, body=raw, parsed=parsed, tier=tier.name)
