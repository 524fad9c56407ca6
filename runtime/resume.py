"""A chat stream that survives its replica: the pipeline's glue around runtime/continuation.py.

`resumable(...)` takes an opened first attempt (its first event and the rest) and returns the
events the relay (runtime/relay.py) forwards, plus the `settle` the relay calls instead of charging
one hold. When the serving replica fails mid-answer (killed, reclaimed, 5xx, connection reset,
a stream closed unfinished), `continued_stream` asks `reopen` for the continuation: another
replica of the same tier first (reusing the attempt's admission permit), else a later tier of the
chain that has a free slot right now. Each continuation call is its own reservation, of its own
worst case (the continuation's prompt bound and the tokens left), so the budget covers every call.

Charging, per call: a call cut short is charged by `cut_short_charge` (prompt bound + one token per
content chunk it streamed, at most its reservation), a call that finished by its usage; a call that
never opened costs nothing. The client sees one stream: the final chunk carries
`"frugal": {"continued": n}`, an SSE comment `: x-frugal-continued=n` precedes `[DONE]`, and
`frugal_continuations_total{tier}` counts continuations by the tier whose replica failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson

from runtime.accounting import Bound, Charge, TierPrice, charge, cut_short_charge, prompt_token_bound
from runtime.auth import TenantInfo
from runtime.budget import Hold, reserved
from runtime.continuation import Stitcher, continued_stream
from runtime.errors import BudgetExceeded, UpstreamFailure, UpstreamUnavailable
from runtime.gateway import Gate, Gateway
from runtime.replicas import Lease
from runtime.routing import TierState
from runtime.state import Runtime
from runtime.upstream import DONE, UpstreamStream, open_stream


class ContinuationRefused(UpstreamFailure):
    """The tenant's budget cannot cover the continuation call: the stream ends with this error."""

    status = 429
    type = "insufficient_quota"
    code = "continuation_over_budget"
    retryable = False


@dataclass
class _Billed:
    price: TierPrice
    bound: Bound
    hold: Hold


@dataclass
class _Serving:
    gate: Gate
    lease: Lease
    upstream: UpstreamStream | None


class Scope(Protocol):
    """What the attempt's scope releases when it closes: leases, permits, streams; reservation exits."""

    releases: list[Callable[[], None]]
    closers: list[Callable[[], Awaitable[None]]]


def _max_tokens(body: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        if isinstance(body.get(key), int):
            return int(body[key])
    return 0


def resumable(
    rt: Runtime,
    tenant: TenantInfo,
    path: str,
    chain: list[TierState],
    tier: TierState,
    bound: Bound,
    hold: Hold,
    body: bytes,
    first: bytes,
    events: AsyncIterator[bytes],
    lease: Lease,
    upstream: UpstreamStream | None,
    scope: Scope,
) -> tuple[AsyncIterator[bytes], Callable[[Charge], Charge], Callable[[], dict[str, Any] | None]]:
    gw: Gateway = rt.gateway
    payload: dict[str, Any] = orjson.loads(body)
    st = Stitcher(include_usage=True)  # the relay drops the summed usage chunk if the client did not ask
    billed: dict[int, _Billed] = {0: _Billed(tier.price, bound, hold)}
    serving = _Serving(gw.gate(tier.name), lease, upstream)
    exclude: set[str] = {lease.replica.url}
    later = chain[chain.index(tier) + 1 :] if tier in chain else []

    # Until a continuation happens the client gets the upstream's own bytes (the stitcher only keeps
    # count); `raw` is the event the stitcher last read, `usage_only` the usage chunks it held back.
    raw: list[bytes] = [first]
    usage_only: list[bytes] = []

    def seen(event: bytes) -> bytes:
        raw[0] = event
        if b'"usage"' in event and event.startswith(b"data: ") and not orjson.loads(event[6:]).get("choices"):
            usage_only.append(event)
        return event

    async def first_attempt() -> AsyncIterator[bytes]:
        yield seen(first)
        async for event in events:
            yield seen(event)

    def on_continue(exc: UpstreamFailure) -> None:
        # The replica that was serving failed: out of rotation, its connection and slot released.
        serving.gate.report(serving.lease, exc)
        serving.lease.release()
        if serving.upstream is not None:
            serving.upstream.close()
            serving.upstream = None
        exclude.add(serving.lease.replica.url)

    async def reopen(cont: dict[str, Any]) -> AsyncIterator[bytes]:
        index = len(st.attempts) - 1
        last: UpstreamFailure | None = None
        for t in [tier, *later]:
            g = gw.gate(t.name)
            if t is not tier and not (t.breaker.allows() and g.ready and _free_now(g)):
                continue
            while True:
                lease = g.acquire(exclude if t is tier else set(), scope.releases)
                if lease is None:
                    break
                if t is not tier:
                    permit = g.admission.enter()  # granted at once: _free_now checked it
                    if permit.permit is not None:
                        scope.releases.append(permit.permit.release)
                b = cont if t is tier else {**cont, "model": t.upstream_model}
                cbound = Bound(prompt_token_bound(b["messages"], b.get("tools")), _max_tokens(b))
                reservation = reserved(rt.budget, tenant, cbound.worst_case(t.price))
                try:
                    h = await reservation.__aenter__()
                except BudgetExceeded as exc:
                    lease.release()
                    raise ContinuationRefused(f"the stream could not be continued: {exc.message}") from exc
                try:
                    up = await open_stream(rt.upstream, g.view(lease), path, orjson.dumps(b))
                except UpstreamFailure as exc:
                    await reservation.__aexit__(None, None, None)  # nothing was charged: it settles at zero
                    g.report(lease, exc)
                    lease.release()
                    exclude.add(lease.replica.url)
                    last = exc
                    if not g.probed:
                        break
                    continue
                scope.closers.append(lambda r=reservation: r.__aexit__(None, None, None))  # type: ignore[misc]
                scope.releases.append(up.close)
                billed[index] = _Billed(t.price, cbound, h)
                gw.continuations.labels(serving.gate.tier.name).inc()
                serving.gate, serving.lease, serving.upstream = g, lease, up
                return up.events()
        raise last if last is not None else UpstreamUnavailable("no replica or tier is left to continue the stream")

    stitched = continued_stream(
        payload,
        first_attempt(),
        reopen,
        include_usage=True,
        max_attempts=serving.gate.attempts,
        stitcher=st,
        on_continue=on_continue,
    )

    finish: list[str] = []

    def finished(event: bytes) -> bytes:
        if b'"finish_reason":"' in event and event.startswith(b"data: {"):
            choices = orjson.loads(event[6:]).get("choices") or [{}]
            finish.append(str(choices[0].get("finish_reason")))
        return event

    async def client_events() -> AsyncIterator[bytes]:
        async for piece in stitched:
            if not st.continued:
                if piece.endswith(DONE + b"\n\n"):  # the end of an answer that was never cut
                    for event in usage_only:
                        yield event
                    yield DONE
                else:
                    yield finished(raw[0])
                continue
            for event in piece.split(b"\n\n"):
                if not event:
                    continue
                if event == DONE and st.continued:
                    yield b": x-frugal-continued=" + str(st.continued).encode()
                yield finished(event)

    def answer() -> dict[str, Any] | None:
        """The whole answer as a chat.completion (for the response cache), once the stream ended normally."""
        if not finish or not st.continuable:
            return None
        usage = st.usage()
        return {
            "id": st.ident.get("id", "stream"),
            "object": "chat.completion",
            "created": st.ident.get("created", 0),
            "model": st.ident.get("model", ""),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": st.text}, "finish_reason": finish[-1]}
            ],
            "usage": usage,
        }

    def settle(relayed: Charge) -> Charge:
        if not st.continued:
            hold.charge(relayed.cost)
            return relayed
        total, prompt, completion = Decimal(0), 0, 0
        for i, attempt in enumerate(st.attempts):
            b = billed.get(i)
            if b is None:
                continue  # a continuation that never opened
            c = (
                charge(b.price, b.bound, attempt.usage)
                if attempt.usage is not None
                else cut_short_charge(b.price, b.bound, attempt.chunks)
            )
            b.hold.charge(c.cost)
            total += c.cost
            prompt += c.prompt_tokens
            completion += c.completion_tokens
        return Charge(total, prompt, completion)

    return client_events(), settle, answer


def _free_now(g: Gate) -> bool:
    a = g.admission
    return a.queued == 0 and a.in_flight < a.capacity()


__all__ = ["ContinuationRefused", "resumable"]
