"""`create_app(settings)`: the ASGI app. No module-level state: everything lives in the lifespan.

Seams for tests and benchmarks (keyword arguments): `upstream` (a factory of the Transport the
router reaches its tiers with; default aiohttp, tests pass an in-process fake), `clock` (monotonic
and wall time), `cache`, `budget`, `environ`, `llama_server`, `log_dir`.

The one error boundary is here: `_on_frugal_error`/`_on_http_error` render every FrugalError and
framework 404/405 in OpenAI's shape, and `ErrorBoundary` turns anything else into a 500 in the same
shape without closing the client's connection. Upstream failures are translated into FrugalErrors in
runtime/upstream.py before they get here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.assets import cache_dir, llama_server_binary
from runtime.auth import KeyStore
from runtime.budget import BudgetStore, ExclusiveSQLiteStore, RedisBudgetStore, SharedSQLiteStore
from runtime.budget.guard import GuardedLedger, SettlementJournal
from runtime.budget.ledger import seconds_until_reset
from runtime.cache import admin
from runtime.cache.protocol import NullCache, ResponseCache
from runtime.clock import SYSTEM_CLOCK, Clock
from runtime.disconnect import ClientDisconnected
from runtime.errors import RETRY_STATUSES, BudgetExceeded, FrugalError, error_body, error_for_status
from runtime.gateway import build_gateway, install_drain
from runtime.gateway_http import ROUTES as GATEWAY_ROUTES
from runtime.gateway_http import DrainGuard
from runtime.metrics import NO_TIER, Metrics
from runtime.relay import CLIENT_CLOSED
from runtime.routes import ROUTES
from runtime.routing import CircuitBreaker, Router, TierState, price_of
from runtime.settings import Settings
from runtime.state import Runtime, State
from runtime.supervisor import LlamaServer, Supervisor
from runtime.upstream import HttpTransport, Transport

log = logging.getLogger(__name__)
REMOTE_DEFAULT_SLOTS = 8


def retry_after(err: FrugalError, rt: Runtime | None) -> int:
    """Seconds a client should wait after a 429/503: the error's own figure, else until the budget
    resets (budget refusals), a circuit's cool-down (nothing up), or one second (a full queue)."""
    if err.retry_after_s is not None:
        return max(1, math.ceil(err.retry_after_s))
    if rt is None:
        return 1
    if isinstance(err, BudgetExceeded):
        return seconds_until_reset(err.code, rt.clock.wall())
    if err.status == 503:
        return max(1, math.ceil(rt.settings.routing.circuit_cooldown_s))
    return 1


def _error_response(request: Request, err: FrugalError) -> Response:
    rt = getattr(request.state, "rt", None)
    if rt is not None:
        rt.metrics.requests.labels(NO_TIER, str(err.status)).inc()
    # The error's own headers first (admission and drain refusals carry their Retry-After); every
    # other 429/503 says when to come back too.
    headers: dict[str, str] = dict(getattr(err, "headers", None) or {})
    if err.status in RETRY_STATUSES and not any(k.lower() == "retry-after" for k in headers):
        headers["retry-after"] = str(retry_after(err, rt))
    return Response(error_body(err), status_code=err.status, headers=headers or None, media_type="application/json")


async def _on_frugal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FrugalError), "registered for FrugalError"
    return _error_response(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException), "registered for HTTPException"
    message = exc.detail
    allow = (exc.headers or {}).get("Allow")
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405 and allow:
        message = f"{request.method} is not allowed on {request.url.path}; use {allow}"
    response = _error_response(request, error_for_status(exc.status_code, message))
    if allow:
        response.headers["Allow"] = allow
    return response


class ErrorBoundary:
    """The last line: an exception no handler took becomes a 500 in OpenAI's shape, sent as a normal
    response so the client's keep-alive connection stays usable (Starlette's own last-resort
    handler re-raises, and the server then drops the connection). A client that went away
    (mid-body or mid-answer) is counted as a disconnect (status 499 in metrics), not logged as an
    error. If the response had already started, nothing can be said any more: the connection is
    left for the server to close."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except (ClientDisconnect, ClientDisconnected):
            rt = (scope.get("state") or {}).get("rt")
            if rt is not None:
                rt.metrics.requests.labels(NO_TIER, str(CLIENT_CLOSED)).inc()
        except Exception as exc:
            log.exception("unexpected error on %s", scope.get("path"), exc_info=exc)
            if started:
                return
            err = FrugalError(f"internal error ({type(exc).__name__}); see the router's log")
            rt = (scope.get("state") or {}).get("rt")
            if rt is not None:
                rt.metrics.requests.labels(NO_TIER, "500").inc()
            body = error_body(err)
            await send({
                "type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": body, "more_body": False})


def _budget_store(settings: Settings, clock: Clock, metrics: Metrics) -> BudgetStore:
    """The configured ledger; opening a SQLite file blocks, so the lifespan calls this in a thread.
    A ledger that can be unreachable (Redis, a shared file) is wrapped in a GuardedLedger: bounded
    calls, fail closed, journalled settlements (runtime/budget/guard.py)."""
    b = settings.budget
    store: BudgetStore
    if b.backend == "redis":
        import redis.asyncio as aioredis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        assert b.redis_url is not None, "validated by Settings"
        # A blocking pool: past max_connections a call waits for a free connection (backpressure)
        # within the call's time bound, instead of failing. No client-side retries: the guard
        # bounds the whole call and decides what a failure means.
        pool = aioredis.BlockingConnectionPool.from_url(
            b.redis_url,
            max_connections=b.redis_max_connections,
            timeout=b.call_timeout_s,
            socket_timeout=b.call_timeout_s,
            socket_connect_timeout=b.call_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        store = RedisBudgetStore(aioredis.Redis.from_pool(pool), b.reservation_ttl_s, wall=clock.wall)
    elif b.shared:
        store = SharedSQLiteStore(b.sqlite_path, b.reservation_ttl_s, wall=clock.wall)
    else:
        return ExclusiveSQLiteStore(b.sqlite_path, wall=clock.wall)
    return GuardedLedger(
        store,
        SettlementJournal(b.journal()),
        call_timeout_s=b.call_timeout_s,
        retry_s=b.unavailable_retry_s,
        on_error=lambda op: metrics.ledger_errors.labels(op).inc(),
        on_pending=metrics.settlements_pending.set,
        monotonic=clock.monotonic,
    )


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
    upstream: Callable[[], Transport] = HttpTransport,
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
                input_modalities=frozenset(t.input_modalities) if t.input_modalities is not None else None,
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
        store = budget if budget is not None else await asyncio.to_thread(_budget_store, settings, clock, metrics)
        if isinstance(store, GuardedLedger):
            await store.start()
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
        lifespan=lifespan,
        middleware=[Middleware(ErrorBoundary), Middleware(DrainGuard)],
        exception_handlers={FrugalError: _on_frugal_error, HTTPException: _on_http_error},
    )
