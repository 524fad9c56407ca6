"""The cache's admin API: routes the router mounts under /admin/cache.

    POST /invalidate   {"tenant": "acme"} | {"model": "small"} | both  -> {"removed": n}
    GET  /stats        entries, bytes, budget, partitions, Redis status

Every call needs the admin key (`Authorization: Bearer <key>` or `x-admin-key: <key>`), compared
in constant time. Without a configured key the API answers 404 (disabled), never open.

The cache and the key are read from the app's state (`request.state.rt`, built in the lifespan),
so nothing here holds a cache between apps. Failures raise the runtime's errors (runtime/errors.py)
and the app's one error boundary renders them in OpenAI's shape.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from runtime.cache.cache import FrugalCache
from runtime.errors import AuthenticationError, FrugalError, InvalidRequest

if TYPE_CHECKING:
    from runtime.state import Runtime


class AdminNotFound(FrugalError):
    """The admin API is disabled, or the router runs without the response cache."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


def _runtime(request: Request) -> Runtime:
    return request.state.rt  # type: ignore[no-any-return]


def _authorised(request: Request) -> Runtime:
    rt = _runtime(request)
    admin_key = rt.settings.cache.admin_key
    if not admin_key:
        raise AdminNotFound("the cache admin API is disabled; set the cache admin key to enable it", code="disabled")
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-admin-key", "")
    if not hmac.compare_digest(given.encode(), admin_key.encode()):
        raise AuthenticationError("missing or wrong admin key", code="invalid_admin_key")
    return rt


def _cache(rt: Runtime) -> FrugalCache:
    if not isinstance(rt.cache, FrugalCache):
        raise AdminNotFound("this router runs without the response cache", code="no_cache")
    return rt.cache


async def invalidate(request: Request) -> JSONResponse:
    rt = _authorised(request)
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest('body must be JSON: {"tenant": ..., "model": ...}', code="invalid_json") from exc
    if not isinstance(payload, dict):
        raise InvalidRequest("body must be a JSON object", code="invalid_json")
    tenant, model = payload.get("tenant"), payload.get("model")
    for name, value in (("tenant", tenant), ("model", model)):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidRequest(f"{name} must be a non-empty string", code="invalid_value", param=name)
    if tenant is None and model is None:
        raise InvalidRequest("give a tenant, a model or both (refusing to drop everything)", code="missing_scope")
    removed = await _cache(rt).invalidate(tenant, model)
    return JSONResponse({"removed": removed, "tenant": tenant, "model": model})


async def stats(request: Request) -> JSONResponse:
    rt = _authorised(request)
    return JSONResponse(_cache(rt).stats())


ROUTES: list[BaseRoute] = [
    Route("/invalidate", invalidate, methods=["POST"]),
    Route("/stats", stats, methods=["GET"]),
]
"""Mount with `Mount("/admin/cache", routes=ROUTES)`: routes, not a sub-app, so errors reach the
app's error boundary."""
