"""HTTP endpoints. Thin: read and check the body, authenticate, hand over (runtime/chat.py,
runtime/embeddings.py), answer. Errors are raised; the app's one exception handler
(runtime/app.py) renders them in OpenAI's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from runtime import chat
from runtime.auth import check_bearer
from runtime.disconnect import ClientDisconnected, cancel_on_disconnect
from runtime.embeddings import embed
from runtime.errors import BodyTooLarge, InvalidRequest, UnknownModel, UpstreamUnavailable
from runtime.pipeline import Outcome
from runtime.relay import CLIENT_CLOSED
from runtime.schema import ChatRequest, EmbeddingsRequest, validate
from runtime.state import Runtime

JSON = "application/json"


async def read_json(request: Request, limit: int, max_depth: int) -> Any:
    """The decoded body, or 413 past `limit` bytes (checked before reading when the length is declared),
    or 400 when nested deeper than `max_depth` (the JSON writer refuses deep nesting, and no request
    needs it)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length must be a number")
        if int(declared) > limit:
            raise BodyTooLarge(
                f"request body of {declared} bytes is over the limit of {limit} bytes (limits.max_body_bytes)"
            )
        body = await request.body()
    else:
        parts: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body is over the limit of {limit} bytes (limits.max_body_bytes)")
            parts.append(chunk)
        body = b"".join(parts)
    if not body:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON in the request body: {exc}") from None
    # Fewer brackets than the limit cannot nest deeper than it: the walk is for the rare body that has many.
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(value, max_depth) > max_depth:
        raise InvalidRequest(
            f"the JSON body is nested more than {max_depth} levels deep (limits.max_json_depth); "
            "flatten it (no OpenAI request needs that depth)"
        )
    return value


def json_depth(value: Any, stop_after: int) -> int:
    """How deep `value` nests (a scalar is 0, `[]` is 1), counted no further than stop_after + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest


class SSEResponse(Response):
    """Server-sent events. If the client disconnects, the relay is closed at once, which closes the
    upstream connection (llama-server stops generating) and settles the bill."""

    media_type = "text/event-stream"

    def __init__(self, stream: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        # Not Response.__init__: it would declare Content-Length: 0 for a body of None.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers += [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with cancel_on_disconnect(receive):
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                async for chunk in self.stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (ClientDisconnected, OSError):
            pass  # the client is gone; closing the stream below settles the bill
        finally:
            aclose = getattr(self.stream, "aclose", None)
            if aclose is not None:
                await aclose()


def rt_of(request: Request) -> Runtime:
    return request.state.rt  # type: ignore[no-any-return]


def _answer(outcome: Outcome) -> Response:
    if outcome.stream is not None:
        return SSEResponse(outcome.stream, outcome.headers)
    task = BackgroundTask(outcome.after) if outcome.after is not None else None
    return Response(outcome.body, headers=outcome.headers, media_type=JSON, background=task)


async def chat_completions(request: Request) -> Response:
    rt = rt_of(request)
    tenant = rt.keys.authenticate(request.headers.get("authorization"))
    payload = await read_json(request, rt.settings.limits.max_body_bytes, rt.settings.limits.max_json_depth)
    req: ChatRequest = validate(ChatRequest, payload)
    if len(req.messages) > rt.settings.limits.max_messages:
        raise InvalidRequest(
            f"{len(req.messages)} messages is over the limit of {rt.settings.limits.max_messages}", param="messages"
        )
    try:
        return _answer(await chat.complete(rt, tenant, payload, req, request.headers, request.receive))
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED)


async def embeddings(request: Request) -> Response:
    rt = rt_of(request)
    tenant = rt.keys.authenticate(request.headers.get("authorization"))
    payload = await read_json(request, rt.settings.limits.max_body_bytes, rt.settings.limits.max_json_depth)
    req: EmbeddingsRequest = validate(EmbeddingsRequest, payload)
    try:
        return _answer(await embed(rt, tenant, payload, req, request.receive))
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED)


def _models(rt: Runtime) -> list[dict[str, Any]]:
    """Every id a client may send as `model`, as OpenAI Model objects with a `frugal` extension."""
    now = int(rt.clock.wall())
    data: list[dict[str, Any]] = [
        {"id": "auto", "object": "model", "created": now, "owned_by": "frugal", "frugal": {"kind": "router"}}
    ]
    for t in rt.tiers.values():
        data.append({
            "id": t.name, "object": "model", "created": now, "owned_by": "frugal",
            "frugal": {
                "kind": "tier", "ready": t.ready, "circuit": ("closed", "open", "half-open")[t.breaker.state],
                "prompt_usd_per_1k": str(t.price.prompt_per_1k),
                "completion_usd_per_1k": str(t.price.completion_per_1k),
                "max_complexity": t.cfg.max_complexity, "slots": t.slots, "in_flight": t.in_flight,
                "endpoints": ["embeddings"] if t.serves_embeddings else ["chat.completions"],
            },
        })  # fmt: skip
    for alias, target in rt.settings.aliases.items():
        data.append(
            {
                "id": alias,
                "object": "model",
                "created": now,
                "owned_by": "frugal",
                "frugal": {"kind": "alias", "target": target},
            }
        )
    return data


async def list_models(request: Request) -> Response:
    rt = rt_of(request)
    rt.keys.authenticate(request.headers.get("authorization"))
    return Response(orjson.dumps({"object": "list", "data": _models(rt)}), media_type=JSON)


async def get_model(request: Request) -> Response:
    rt = rt_of(request)
    rt.keys.authenticate(request.headers.get("authorization"))
    wanted = request.path_params["model"]
    for model in _models(rt):
        if model["id"] == wanted:
            return Response(orjson.dumps(model), media_type=JSON)
    raise UnknownModel(
        f"model {wanted!r} does not exist; GET /v1/models lists them: {rt.router.model_names()}", param="model"
    )


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    rt = rt_of(request)
    tiers = {t.name: t.available() for t in rt.tiers.values()}
    if any(tiers.values()):
        return Response(orjson.dumps({"status": "ready", "tiers": tiers}), media_type=JSON)
    raise UpstreamUnavailable(f"no tier is ready: {tiers}")


async def metrics(request: Request) -> Response:
    rt = rt_of(request)
    key = rt.settings.metrics.auth_key
    if key is not None:
        check_bearer(request.headers.get("authorization"), key.digest_hex(), "/metrics")
    m = rt.metrics
    for t in rt.tiers.values():
        m.in_flight.labels(t.name).set(t.in_flight)
        m.circuit.labels(t.name).set(t.breaker.state)
    if m.budget_remaining is not None:
        for tenant in rt.keys.tenants.values():
            if tenant.has_budget:
                spend = await rt.budget.spend(tenant.name)
                if tenant.daily_budget_usd is not None:
                    m.budget_remaining.labels(tenant.name, "daily").set(float(tenant.daily_budget_usd - spend.day_usd))
                if tenant.monthly_budget_usd is not None:
                    m.budget_remaining.labels(tenant.name, "monthly").set(
                        float(tenant.monthly_budget_usd - spend.month_usd)
                    )
    return Response(m.render(), media_type=m.content_type)


ROUTES = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
