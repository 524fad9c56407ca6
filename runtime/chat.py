"""Chat completions: the cache in front, then one Call through the dispatch pipeline.

validate (runtime/routes.py) -> cache lookup -> route (runtime/routing.py) -> dispatch
(runtime/pipeline.py: reserve, upstream, settle) -> cache store after the response is sent.
This module never builds an error body: it raises FrugalError subclasses (runtime/app.py renders).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from runtime import complexity, forwarding
from runtime.accounting import Bound, prompt_token_bound, usage_tokens
from runtime.auth import TenantInfo
from runtime.budget import remaining_usd
from runtime.cache import CachedResponse, CacheRequest
from runtime.chat_schema import input_media
from runtime.disconnect import Receive
from runtime.errors import InvalidRequest
from runtime.flights import StoredWhenDone, dispatch_shared
from runtime.openai_shape import ChatShape, answered_model
from runtime.pipeline import Call, Outcome
from runtime.routing import RequestLimits, TierState
from runtime.schema import ANSWER_FIELDS, ChatRequest
from runtime.state import Runtime
from runtime.upstream import DONE

CHAT_PATH = "/v1/chat/completions"


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


def request_limits(req: ChatRequest, headers: Any) -> tuple[RequestLimits, str]:
    """Limits from the `frugal` body extension, overridden by x-frugal-* headers; and the cache mode."""
    ext = req.frugal
    cost = _header_decimal(headers.get("x-frugal-max-cost-usd"), "x-frugal-max-cost-usd")
    latency = _header_decimal(headers.get("x-frugal-latency-target-ms"), "x-frugal-latency-target-ms")
    cache_mode = headers.get("x-frugal-cache") or (ext.cache if ext else "default")
    if cache_mode not in ("default", "no-store", "no-cache"):
        raise InvalidRequest("x-frugal-cache must be default, no-store or no-cache", param="x-frugal-cache")
    return (
        RequestLimits(
            cost if cost is not None else (ext.max_cost_usd if ext else None),
            float(latency) if latency is not None else (ext.latency_target_ms if ext else None),
        ),
        cache_mode,
    )


def upstream_body(payload: dict[str, Any], tier: TierState, max_tokens: int, stream: bool) -> bytes:
    """Only the allow-listed fields (runtime/forwarding.py), the tier's model and the router's max_tokens."""
    up = forwarding.allowed(payload, forwarding.CHAT_FIELDS)
    up["model"] = tier.upstream_model
    up["max_tokens"] = max_tokens
    if stream:
        # llama-server (like OpenAI) sends usage in streams only when asked; the router always needs it.
        options = payload.get("stream_options") or {}
        up["stream_options"] = {**forwarding.allowed(options, forwarding.STREAM_OPTION_FIELDS), "include_usage": True}
    return orjson.dumps(up)


async def complete(
    rt: Runtime, tenant: TenantInfo, payload: dict[str, Any], req: ChatRequest, headers: Any, receive: Receive | None
) -> Outcome:
    """Answer one chat completion (from the cache or a tier); raises FrugalError or ClientDisconnected."""
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
            model = answered_model(req.model or rt.settings.routing.default_model, hit.tier)
            return _from_cache(rt, hit, model, req.stream, include_usage)

    requested = req.max_completion_tokens or req.max_tokens
    prompt_bound = prompt_token_bound(payload["messages"], payload.get("tools"))
    remaining = None
    if tenant.has_budget:
        remaining = remaining_usd(tenant, await rt.budget.spend(tenant.name))
    score = complexity.score(payload["messages"], payload).score if target == "auto" else None
    estimate = Bound(prompt_bound, requested or max(t.cfg.default_max_tokens for t in rt.tiers.values()))
    decision = rt.router.decide(
        target, tenant, bound=estimate, score=score, limits=limits, remaining_usd=remaining,
        media=input_media(payload["messages"]),
    )  # fmt: skip

    def bound(tier: TierState, first: bool) -> Bound | None:
        max_tokens = requested or tier.cfg.default_max_tokens
        if max_tokens > tier.cfg.max_tokens_limit:
            if first and target != "auto":
                raise InvalidRequest(
                    f"max_tokens={max_tokens} is over tier {tier.name!r}'s limit of {tier.cfg.max_tokens_limit}",
                    param="max_tokens",
                )
            return None
        b = Bound(prompt_bound, max_tokens)
        if limits.max_cost_usd is not None and b.worst_case(tier.price) > limits.max_cost_usd:
            if first and target != "auto":
                raise InvalidRequest(
                    f"tier {tier.name!r} may cost up to ${b.worst_case(tier.price)} for this request "
                    f"(max_tokens={max_tokens}), over max_cost_usd={limits.max_cost_usd}; "
                    "fix: raise the limit, lower max_tokens, or use model 'auto'",
                    param="x-frugal-max-cost-usd",
                    code="max_cost_unmet",
                )
            return None  # a fallback over the client's cost limit is not tried
        return b

    def body(tier: TierState, b: Bound) -> bytes:
        return upstream_body(payload, tier, b.completion_tokens, req.stream)

    def nothing_fits() -> InvalidRequest:
        return InvalidRequest(f"no tier accepts max_tokens={requested}", param="max_tokens")

    asked = req.model or rt.settings.routing.default_model
    call = Call(
        tenant, CHAT_PATH, decision, bound, body, usage_tokens, nothing_fits,
        receive=receive, stream=req.stream, include_usage=include_usage, resumable=req.stream,
        shape=lambda tier: ChatShape(answered_model(asked, tier.name)),
    )  # fmt: skip
    outcome = await dispatch_shared(rt, call, creq, cache_mode)
    ignored = forwarding.ignored_header(payload, forwarding.CHAT_FIELDS)
    if ignored is not None:
        outcome.headers["x-frugal-ignored-fields"] = ignored
    if cache_mode == "default":
        outcome.headers["x-frugal-cache"] = "miss"
    parsed, tier_name = outcome.parsed, outcome.tier
    if parsed is not None and tier_name is not None and not creq.no_store:

        async def store() -> None:
            await rt.cache.store(creq, parsed, tier_name)

        outcome.after = store
    elif outcome.stream is not None and outcome.answer is not None and tier_name is not None and not creq.no_store:

        async def store_streamed(body: dict[str, Any]) -> None:
            await rt.cache.store(creq, body, tier_name)

        outcome.stream = StoredWhenDone(outcome.stream, outcome.answer, store_streamed)
    return outcome


def _from_cache(rt: Runtime, hit: CachedResponse, model: str, stream: bool, include_usage: bool) -> Outcome:
    """A stored answer, shaped for this client on the way out: entries stored before a shaping
    rule existed, or under another id of the same tier, leave in OpenAI's shape with its `model`."""
    headers = {
        "x-frugal-tier": hit.tier,
        "x-frugal-cost-usd": "0",
        "x-frugal-fallback": "0",
        "x-frugal-cache": f"hit-{hit.kind}",
    }
    if hit.similarity is not None:
        headers["x-frugal-cache-similarity"] = f"{hit.similarity:.4f}"
    rt.metrics.requests.labels("cache", "200").inc()
    shape = ChatShape(model)
    body = shape.body(copy.deepcopy(hit.body))  # the stored entry may be shared with other hits
    if not stream:
        return Outcome(headers, body=orjson.dumps(body))

    async def replay() -> AsyncIterator[bytes]:
        for chunk in cached_chunks(body, include_usage):
            yield b"data: " + orjson.dumps(shape.chunk(chunk)) + b"\n\n"
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
