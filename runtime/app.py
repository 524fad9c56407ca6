"""`create_app(settings)`: the ASGI app. No module-level state: everything lives in the lifespan.

Seams for tests and benchmarks (keyword arguments): `upstream` (a factory of the Transport the
router reaches its tiers with; default aiohttp, tests pass an in-process fake), `clock` (monotonic
and wall time), `cache`, `budget`, `environ`, `llama_server`, `log_dir`.

The one error boundary is here: `_on_error` renders every FrugalError (and framework 404/405s and
unexpected exceptions) in OpenAI's shape. Upstream failures are translated into FrugalErrors in
runtime/upstream.py before they get here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from runtime.assets import cache_dir, llama_server_binary
from runtime.auth import KeyStore
from runtime.budget import BudgetStore, ExclusiveSQLiteStore, RedisBudgetStore, SharedSQLiteStore
from runtime.cache import admin
from runtime.cache.protocol import NullCache, ResponseCache
from runtime.clock import SYSTEM_CLOCK, Clock
from runtime.errors import FrugalError, error_body, error_for_status
from runtime.gateway import ROUTES as GATEWAY_ROUTES
from runtime.gateway import DrainGuard, build_gateway, install_drain
from runtime.metrics import NO_TIER, Metrics
from runtime.routes import ROUTES
from runtime.routing import CircuitBreaker, Router, TierState, price_of
from runtime.settings import Settings
from runtime.state import Runtime, State
from runtime.supervisor import LlamaServer, Supervisor
from runtime.upstream import AiohttpTransport, Transport

log = logging.getLogger("frugal.app")
REMOTE_DEFAULT_SLOTS = 8


def _error_response(request: Request, err: FrugalError) -> Response:
    rt = getattr(request.state, "rt", None)
    if rt is not None:
        rt.metrics.requests.labels(NO_TIER, str(err.status)).inc()
    # Refusals that say when to come back (admission, drain) carry a Retry-After header.
    headers: dict[str, str] | None = getattr(err, "headers", None)
    return Response(error_body(err), status_code=err.status, media_type="application/json", headers=headers)


async def _on_frugal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FrugalError), "registered for FrugalError"
    return _error_response(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException), "registered for HTTPException"
    message = exc.detail if exc.status_code != 404 else f"no route {request.method} {request.url.path}"
    return _error_response(request, error_for_status(exc.status_code, message))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return _error_response(request, FrugalError(f"internal error ({type(exc).__name__}); see the router's log"))


def _budget_store(settings: Settings, clock: Clock) -> BudgetStore:
    """The configured ledger; opening a SQLite file blocks, so the lifespan calls this in a thread."""
    b = settings.budget
    if b.backend == "redis":
        import redis.asyncio as aioredis

        assert b.redis_url is not None, "validated by Settings"
        return RedisBudgetStore(aioredis.from_url(b.redis_url), b.reservation_ttl_s, wall=clock.wall)
    if b.shared:
        return SharedSQLiteStore(b.sqlite_path, b.reservation_ttl_s, wall=clock.wall)
    return ExclusiveSQLiteStore(b.sqlite_path, wall=clock.wall)


async def _build_cache(settings: Settings, metrics: Metrics, tiers: dict[str, TierState]) -> ResponseCache:
    """The configured FrugalCache on the app's metrics registry, its savings priced at each tier's
    price; NullCache when disabled. Starting it restores the snapshot and joins Redis, and never
    fails the app for a cache-side problem (logged and counted instead)."""
    if not settings.cache.enabled:
        return NullCache()
    from runtime.cache.cache import FrugalCache
    from runtime.cache.metrics import CacheMetrics

    def price(tier: str, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
        state = tiers.get(tier)
        return None if state is None else state.price.cost(prompt_tokens, completion_tokens)

    built = FrugalCache(settings.cache, metrics=CacheMetrics(metrics.registry), price=price)
    await built.start()
    return built


def create_app(
    settings: Settings,
    cache: ResponseCache | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    budget: BudgetStore | None = None,
    llama_server: Path | None = None,
    log_dir: Path | None = None,
    upstream: Callable[[], Transport] = AiohttpTransport,
    clock: Clock = SYSTEM_CLOCK,
    on_drained: Callable[[bool], None] | None = None,
) -> Starlette:
    """Build the router app. `cache`/`budget` can be injected (tests, benchmarks); the defaults are
    the configured cache and budget store. `upstream` is called once in the lifespan (inside the
    running event loop) for the Transport every tier is reached through. Local tiers are started
    when the app starts. `on_drained(drained)` is called once a drain (SIGTERM, POST
    /internal/drain) has finished: the server's cue to exit (runtime/serve.py)."""
    env = dict(environ if environ is not None else os.environ)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        metrics = Metrics([t.name for t in settings.tiers], settings.metrics.budget_by_tenant)
        transport = upstream()
        tiers: dict[str, TierState] = {}
        servers: list[LlamaServer] = []
        binary = llama_server
        for t in settings.tiers:
            state = TierState(
                cfg=t,
                price=price_of(t),
                breaker=CircuitBreaker(
                    settings.routing.circuit_failures, settings.routing.circuit_cooldown_s, clock=clock.monotonic
                ),
                upstream_model=t.upstream_model or t.name,
            )
            tiers[t.name] = state
            if t.url is not None:
                url = t.url.rstrip("/")
                state.base_url = url[:-3] if url.endswith("/v1") else url
                state.api_key = env.get(t.api_key_env) if t.api_key_env else None
                state.ready = True
                state.slots = t.slots or REMOTE_DEFAULT_SLOTS
                metrics.ready.labels(t.name).set(1)
            elif t.replicas is not None:
                # Replicas on other hosts: ready and sized by their probes (runtime/gateway.py).
                state.api_key = env.get(t.api_key_env) if t.api_key_env else None
                state.slots = t.slots or 1
            else:
                if binary is None:
                    binary = llama_server_binary(env)
                state.slots = t.slots or (t.local.parallel if t.local else 1)
                servers.append(LlamaServer(state, binary, transport, metrics, log_dir or cache_dir(env) / "logs"))
        supervisor = Supervisor(servers)
        gateway = build_gateway(settings, tiers, transport, metrics)
        store = budget if budget is not None else await asyncio.to_thread(_budget_store, settings, clock)
        response_cache = cache if cache is not None else await _build_cache(settings, metrics, tiers)
        rt = Runtime(
            settings=settings,
            upstream=transport,
            clock=clock,
            tiers=tiers,
            router=Router(settings, tiers),
            keys=KeyStore(settings.tenants),
            budget=store,
            cache=response_cache,
            metrics=metrics,
            supervisor=supervisor,
            gateway=gateway,
        )
        supervisor.start()
        await gateway.start()
        install_drain(gateway, on_drained)
        try:
            yield {"rt": rt}
        finally:
            await gateway.stop()
            await supervisor.stop()
            await transport.close()
            await rt.cache.close()
            if budget is None:
                await store.close()

    return Starlette(
        routes=[*ROUTES, *GATEWAY_ROUTES, Mount("/admin/cache", routes=admin.ROUTES)],
        middleware=[Middleware(DrainGuard)],
        lifespan=lifespan,
        exception_handlers={FrugalError: _on_frugal_error, HTTPException: _on_http_error, Exception: _on_unexpected},
    )
