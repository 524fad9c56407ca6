"""One chat completion, one pass: validate -> cache -> route -> reserve -> upstream -> settle -> respond.

The HTTP layer (runtime/routes.py) hands over the decoded body and headers; this module never
builds an error body (it raises FrugalError subclasses; runtime/app.py renders them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from runtime import complexity
from runtime.accounting import prompt_token_bound, usage_tokens
from runtime.auth import TenantInfo
from runtime.budget import Reservation, remaining_usd
from runtime.cache.protocol import CachedResponse, CacheRequest
from runtime.errors import BudgetExceeded, FrugalError, InvalidRequest, UpstreamFailure, UpstreamUnavailable
from runtime.routing import Decision, Limits, TierState
from runtime.schema import ANSWER_FIELDS, ChatRequest
from runtime.state import Runtime
from runtime.upstream import DONE, UpstreamStream, open_stream, post_json

CHAT_PATH = "/v1/chat/completions"
CLIENT_CLOSED = 499
"""Status recorded in metrics when the client went away (nginx's convention; never sent)."""


class ClientDisconnected(Exception):
    pass


@dataclass
class Outcome:
    """What the HTTP layer needs to answer."""

    headers: dict[str, str]
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    after: Callable[[], Awaitable[None]] | None = None
    """Work to run once the response is sent (cache store)."""


@dataclass
class Attempt:
    tier: TierState
    reservation: Reservation | None
    max_tokens: int
    prompt_bound: int
    failed: list[str] = field(default_factory=list)


def _header_decimal(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise InvalidRequest(f"header {name} must be a number, got {value!r}", param=name) from None
    if not d.is_finite() or d <= 0:
        raise InvalidRequest(f"header {name} must be a positive number, got {value!r}", param=name)
    return d


def request_limits(req: ChatRequest, headers: Any) -> tuple[Limits, str]:
    """Limits from the `frugal` body extension, overridden by x-frugal-* headers; and the cache mode."""
    ext = req.frugal
    cost = _header_decimal(headers.get("x-frugal-max-cost-usd"), "x-frugal-max-cost-usd")
    latency = _header_decimal(headers.get("x-frugal-latency-target-ms"), "x-frugal-latency-target-ms")
    cache_mode = headers.get("x-frugal-cache") or (ext.cache if ext else "default")
    if cache_mode not in ("default", "no-store", "no-cache"):
        raise InvalidRequest("x-frugal-cache must be default, no-store or no-cache", param="x-frugal-cache")
    return (
        Limits(
            cost if cost is not None else (ext.max_cost_usd if ext else None),
            float(latency) if latency is not None else (ext.latency_target_ms if ext else None),
        ),
        cache_mode,
    )


async def _watch_disconnect(receive: Callable[[], Awaitable[dict[str, Any]]], task: asyncio.Task[Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            task.cancel(msg="client disconnected")
            return


class ChatService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # -- entry point ---------------------------------------------------------------------------
    async def complete(
        self, tenant: TenantInfo, payload: dict[str, Any], req: ChatRequest, headers: Any, receive: Any
    ) -> Outcome:
        rt = self.rt
        target = rt.router.resolve(req.model)
        limits, cache_mode = request_limits(req, headers)
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        creq = CacheRequest(
            tenant=tenant.name,
            model=target,
            messages=payload["messages"],
            params={k: payload[k] for k in ANSWER_FIELDS if k in payload},
            stream=req.stream,
            semantic_enabled=tenant.semantic_cache,
            no_store=cache_mode == "no-store",
            no_cache=cache_mode == "no-cache",
        )
        if cache_mode == "default":
            hit = await rt.cache.lookup(creq)
            if hit is not None:
                rt.metrics.cache_hits.labels(hit.kind).inc()
                return self._from_cache(hit, req.stream, include_usage)

        requested = req.max_completion_tokens or req.max_tokens
        prompt_bound = prompt_token_bound(payload["messages"], payload.get("tools"))
        remaining = None
        if tenant.has_budget:
            remaining = remaining_usd(tenant, await rt.budget.spend(tenant.name))
        score = complexity.score(payload["messages"], payload).score if target == "auto" else None
        estimate_tokens = requested or max(t.cfg.default_max_tokens for t in rt.tiers.values())
        decision = rt.router.decide(
            target, tenant, prompt_bound=prompt_bound, max_tokens=estimate_tokens, score=score,
            limits=limits, remaining_usd=remaining,
        )  # fmt: skip
        chain = rt.router.check_overload(decision.chain)
        if not chain:
            raise UpstreamUnavailable(f"no tier is ready ({', '.join(t.name for t in decision.chain)}); retry shortly")
        failed: list[str] = []
        last: FrugalError | None = None
        for i, tier in enumerate(chain):
            max_tokens = requested or tier.cfg.default_max_tokens
            if max_tokens > tier.cfg.max_tokens_limit:
                if i == 0 and target != "auto":
                    raise InvalidRequest(
                        f"max_tokens={max_tokens} is over tier {tier.name!r}'s limit of {tier.cfg.max_tokens_limit}",
                        param="max_tokens",
                    )
                continue
            try:
                reservation = await self._reserve(tenant, tier, prompt_bound, max_tokens)
            except BudgetExceeded:
                if i == 0:
                    raise
                continue
            attempt = Attempt(tier, reservation, max_tokens, prompt_bound, failed)
            tier.breaker.on_attempt()
            body = self._upstream_body(payload, tier, max_tokens, req.stream)
            try:
                if req.stream:
                    outcome = await self._stream(attempt, body, include_usage, decision)
                else:
                    outcome = await self._once(attempt, body, decision, creq, receive)
                if cache_mode == "default":
                    outcome.headers["x-frugal-cache"] = "miss"
                return outcome
            except UpstreamFailure as exc:
                await self._settle(attempt, Decimal(0))
                if not exc.retryable:
                    tier.breaker.on_success()  # the server answered; the request was at fault
                    raise
                self._failure(tier, moved_on=i + 1 < len(chain))
                failed.append(f"{tier.name}:{exc.code}")
                last = exc
            except BaseException:
                await self._settle(attempt, Decimal(0))
                raise
        if last is None:
            raise InvalidRequest(f"no tier accepts max_tokens={requested}", param="max_tokens")
        raise last

    # -- pieces --------------------------------------------------------------------------------
    def _upstream_body(self, payload: dict[str, Any], tier: TierState, max_tokens: int, stream: bool) -> bytes:
        up = dict(payload)
        up.pop("frugal", None)
        up.pop("max_completion_tokens", None)
        up["model"] = tier.upstream_model
        up["max_tokens"] = max_tokens
        if stream:
            # llama-server (like OpenAI) sends usage in streams only when asked; we always need it.
            up["stream_options"] = {**(payload.get("stream_options") or {}), "include_usage": True}
        return orjson.dumps(up)

    async def _reserve(
        self, tenant: TenantInfo, tier: TierState, prompt_bound: int, max_tokens: int
    ) -> Reservation | None:
        if not tenant.has_budget:
            return None
        return await self.rt.budget.reserve(tenant, tier.worst_case_cost(prompt_bound, max_tokens))

    async def _settle(self, attempt: Attempt, cost: Decimal) -> None:
        if attempt.reservation is not None:
            res, attempt.reservation = attempt.reservation, None
            await self.rt.budget.settle(res, cost)

    def _failure(self, tier: TierState, moved_on: bool) -> None:
        tier.breaker.on_failure()
        m = self.rt.metrics
        m.circuit.labels(tier.name).set(tier.breaker.state)
        if moved_on:
            m.fallbacks.labels(tier.name).inc()

    def _success(self, tier: TierState) -> None:
        if tier.breaker.state:
            tier.breaker.on_success()
            self.rt.metrics.circuit.labels(tier.name).set(0)
        else:
            tier.breaker.consecutive = 0

    def _headers(self, attempt: Attempt, decision: Decision) -> dict[str, str]:
        h = {
            "x-frugal-tier": attempt.tier.name,
            "x-frugal-fallback": ",".join(attempt.failed) if attempt.failed else "0",
            "x-frugal-route": decision.reason,
        }
        if decision.score is not None:
            h["x-frugal-complexity"] = str(decision.score)
        return h

    def _cost(self, tier: TierState, usage: tuple[int, int] | None, attempt: Attempt) -> tuple[Decimal, int, int]:
        if usage is None:
            # No usage from the upstream: charge the reservation's bound rather than guess low.
            return tier.worst_case_cost(attempt.prompt_bound, attempt.max_tokens), 0, 0
        return tier.price.cost(*usage), usage[0], usage[1]

    async def _once(
        self, attempt: Attempt, body: bytes, decision: Decision, creq: CacheRequest, receive: Any
    ) -> Outcome:
        tier, rt = attempt.tier, self.rt
        t0 = time.perf_counter()
        tier.in_flight += 1
        me = asyncio.current_task()
        assert me is not None, "called from a task"
        watcher = asyncio.ensure_future(_watch_disconnect(receive, me)) if receive is not None else None
        try:
            raw, parsed = await post_json(rt.session, tier, CHAT_PATH, body)
        except asyncio.CancelledError:
            if watcher is not None and watcher.done():
                me.uncancel()
                rt.metrics.observe(tier.name, CLIENT_CLOSED, time.perf_counter() - t0, 0, 0, 0)
                raise ClientDisconnected() from None
            raise
        finally:
            tier.in_flight -= 1
            if watcher is not None:
                watcher.cancel()
        self._success(tier)
        cost, p, c = self._cost(tier, usage_tokens(parsed), attempt)
        await self._settle(attempt, cost)
        rt.metrics.observe(tier.name, 200, time.perf_counter() - t0, p, c, float(cost))
        headers = self._headers(attempt, decision)
        headers["x-frugal-cost-usd"] = str(cost)

        async def store() -> None:
            if not creq.no_store:
                await rt.cache.store(creq, parsed, tier.name)

        return Outcome(headers, body=raw, after=store)

    async def _stream(self, attempt: Attempt, body: bytes, include_usage: bool, decision: Decision) -> Outcome:
        tier, rt = attempt.tier, self.rt
        t0 = time.perf_counter()
        tier.in_flight += 1
        try:
            up = await open_stream(rt.session, tier, CHAT_PATH, body)
            events = up.events()
            try:
                first = await events.__anext__()
            except BaseException:
                up.close()
                raise
        except BaseException:
            tier.in_flight -= 1
            raise
        rt.metrics.ttft.labels(tier.name).observe(time.perf_counter() - t0)
        self._success(tier)
        headers = self._headers(attempt, decision)
        headers["x-frugal-cost-usd-max"] = str(tier.worst_case_cost(attempt.prompt_bound, attempt.max_tokens))
        return Outcome(headers, stream=self._relay(attempt, up, first, events, include_usage, t0))

    async def _relay(
        self,
        attempt: Attempt,
        up: UpstreamStream,
        first: bytes,
        events: AsyncIterator[bytes],
        include_usage: bool,
        t0: float,
    ) -> AsyncIterator[bytes]:
        """Forward SSE events byte for byte, except the usage the client did not ask for."""
        tier, rt = attempt.tier, self.rt
        usage: tuple[int, int] | None = None
        chunks = 0
        status = 200
        try:
            event: bytes | None = first
            while event is not None:
                if event == DONE:
                    cost, _, _ = self._cost(tier, usage, attempt)
                    # An SSE comment: ignored by OpenAI clients, readable by ours.
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
            self._failure(tier, moved_on=False)  # bytes were sent: too late for another tier
            from runtime.errors import sse_error_event

            yield sse_error_event(exc)
        except (asyncio.CancelledError, GeneratorExit):
            status = CLIENT_CLOSED
            raise
        finally:
            up.close()
            tier.in_flight -= 1
            if usage is None:
                # Cut short: charge what was streamed (one token per content chunk in llama-server),
                # plus the prompt bound, never more than the reservation.
                cost = min(
                    tier.price.cost(attempt.prompt_bound, chunks),
                    tier.worst_case_cost(attempt.prompt_bound, attempt.max_tokens),
                )
                p, c = 0, chunks
            else:
                cost, p, c = self._cost(tier, usage, attempt)
            await asyncio.shield(self._settle(attempt, cost))
            rt.metrics.observe(tier.name, status, time.perf_counter() - t0, p, c, float(cost))

    def _from_cache(self, hit: CachedResponse, stream: bool, include_usage: bool) -> Outcome:
        headers = {
            "x-frugal-tier": hit.tier,
            "x-frugal-cost-usd": "0",
            "x-frugal-fallback": "0",
            "x-frugal-cache": f"hit-{hit.kind}",
        }
        if hit.similarity is not None:
            headers["x-frugal-cache-similarity"] = f"{hit.similarity:.4f}"
        self.rt.metrics.requests.labels("cache", "200").inc()
        if not stream:
            return Outcome(headers, body=orjson.dumps(hit.body))

        async def replay() -> AsyncIterator[bytes]:
            for chunk in cached_chunks(hit.body, include_usage):
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            yield DONE + b"\n\n"

        return Outcome(headers, stream=replay())


def cached_chunks(body: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A cached chat.completion replayed as chat.completion.chunk objects (one per choice, then usage)."""
    base = {
        "id": body.get("id", "cached"),
        "object": "chat.completion.chunk",
        "created": body.get("created", 0),
        "model": body.get("model", ""),
    }
    out: list[dict[str, Any]] = []
    for choice in body.get("choices", []):
        msg = choice.get("message") or {}
        delta = {"role": msg.get("role", "assistant"), "content": msg.get("content")}
        if msg.get("tool_calls"):
            delta["tool_calls"] = msg["tool_calls"]
        out.append({**base, "choices": [{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]})
        out.append(
            {
                **base,
                "choices": [
                    {"index": choice.get("index", 0), "delta": {}, "finish_reason": choice.get("finish_reason", "stop")}
                ],
            }
        )
    if include_usage and "usage" in body:
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out
