"""The gateway's HTTP side: the drain guard (ASGI middleware) and the /internal routes.

`DrainGuard` counts each API request in the drain and refuses new ones once it started (503 with
Retry-After; /readyz too); `ROUTES` are `GET /internal/queue` (KEDA), `GET /internal/scaling/{tier}`
(one tier's demand, what the stack's KEDA triggers read) and `GET|POST /internal/drain` (a
preStop hook, `frugal drain`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.admission import queue_figures, scaling_figures
from runtime.drain import Drain, Draining
from runtime.errors import FrugalError, PermissionDenied, UnknownModel, error_body
from runtime.gateway import Gateway
from runtime.metrics import NO_TIER, Metrics


def _gateway(request: Request) -> Gateway:
    return request.state.rt.gateway  # type: ignore[no-any-return]


async def internal_queue(request: Request) -> Response:
    gw = _gateway(request)
    return Response(orjson.dumps(queue_figures({n: g.admission for n, g in gw.gates.items()})), media_type=JSON)


async def internal_scaling(request: Request) -> Response:
    gw, tier = _gateway(request), request.path_params["tier"]
    if tier not in gw.gates:
        raise UnknownModel(f"no tier {tier!r}; tiers: {sorted(gw.gates)}", code="tier_not_found")
    return Response(orjson.dumps(scaling_figures(tier, gw.gates[tier].admission)), media_type=JSON)


async def internal_drain(request: Request) -> Response:
    gw = _gateway(request)
    if request.method == "POST":
        client = request.client.host if request.client else ""
        if client not in ("127.0.0.1", "::1", "localhost"):
            raise PermissionDenied(
                f"POST /internal/drain is accepted from the pod itself (loopback) only, not {client!r}",
                code="drain_not_allowed",
            )
        assert gw.trigger_drain is not None, "installed in the lifespan"
        gw.drain.start()  # at once, so the answer (and /readyz) already says draining
        gw.trigger_drain()
    return Response(orjson.dumps(gw.drain.status()), media_type=JSON)


JSON = "application/json"
ROUTES = [
    Route("/internal/queue", internal_queue, methods=["GET"]),
    Route("/internal/scaling/{tier}", internal_scaling, methods=["GET"]),
    Route("/internal/drain", internal_drain, methods=["GET", "POST"]),
]


class DrainGuard:
    """ASGI middleware: every API request holds a drain ticket until its response (stream included)
    is finished; once draining, new API requests and /readyz get 503 with Retry-After."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = (scope.get("state") or {}).get("rt") if scope["type"] == "http" else None
        if rt is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        drain: Drain = rt.gateway.drain
        if path == "/readyz" and drain.draining:
            await _refuse(
                rt.metrics, Draining("draining: this gateway takes no new requests", drain.retry_after_s), send
            )
            return
        if not path.startswith("/v1/") or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            ticket = drain.enter()
        except Draining as exc:
            await _refuse(rt.metrics, exc, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            ticket.release()


async def _refuse(metrics: Metrics, exc: FrugalError, send: Send) -> None:
    metrics.requests.labels(NO_TIER, str(exc.status)).inc()
    headers = {"content-type": JSON, **getattr(exc, "headers", {})}
    await Response(error_body(exc), status_code=exc.status, headers=headers)({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


__all__ = ["ROUTES", "DrainGuard"]
