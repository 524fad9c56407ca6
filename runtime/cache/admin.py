"""The cache's admin API: an ASGI sub-app the router mounts (e.g. at /admin/cache).

    POST /invalidate   {"tenant": "acme"} | {"model": "small"} | both  -> {"removed": n}
    GET  /stats        entries, bytes, budget, partitions, Redis status

Every call needs the admin key (`Authorization: Bearer <key>` or `x-admin-key: <key>`), compared
in constant time. Without a configured key the API answers 404 (disabled), never open.
Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.cache.cache import FrugalCache


def _error(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def create_admin_app(cache: FrugalCache | Callable[[], object], admin_key: str | None) -> Starlette:
    """`cache` is the cache or a getter (the router's cache lives in its lifespan state)."""

    def get_cache() -> FrugalCache | None:
        found = cache if isinstance(cache, FrugalCache) else cache()
        return found if isinstance(found, FrugalCache) else None

    def authorised(request: Request) -> JSONResponse | None:
        if not admin_key:
            return _error(404, "the cache admin API is disabled; set the cache admin key to enable it", "disabled")
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-admin-key", "")
        if not hmac.compare_digest(given.encode(), admin_key.encode()):
            return _error(401, "missing or wrong admin key", "invalid_admin_key")
        return None

    async def invalidate(request: Request) -> JSONResponse:
        denied = authorised(request)
        if denied is not None:
            return denied
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, 'body must be JSON: {"tenant": ..., "model": ...}', "invalid_json")
        if not isinstance(payload, dict):
            return _error(400, "body must be a JSON object", "invalid_json")
        tenant, model = payload.get("tenant"), payload.get("model")
        for name, value in (("tenant", tenant), ("model", model)):
            if value is not None and (not isinstance(value, str) or not value):
                return _error(400, f"{name} must be a non-empty string", "invalid_value", name)
        if tenant is None and model is None:
            return _error(400, "give a tenant, a model or both (refusing to drop everything)", "missing_scope")
        target = get_cache()
        if target is None:
            return _error(404, "this router runs without the response cache", "no_cache")
        removed = await target.invalidate(tenant, model)
        return JSONResponse({"removed": removed, "tenant": tenant, "model": model})

    async def stats(request: Request) -> JSONResponse:
        denied = authorised(request)
        if denied is not None:
            return denied
        target = get_cache()
        if target is None:
            return _error(404, "this router runs without the response cache", "no_cache")
        return JSONResponse(target.stats())

    return Starlette(
        routes=[Route("/invalidate", invalidate, methods=["POST"]), Route("/stats", stats, methods=["GET"])]
    )
