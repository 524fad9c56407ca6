"""Running the router: the default config (one local tier on the embedded small model) and uvicorn.

Uvicorn settings were chosen by measurement (docs/benchmarks.md): uvloop + httptools (with the
router's header/body deadlines and connection caps, runtime/connections.py), access log off, one
worker (the supervisor and the in-process circuit breakers belong to one process; a second worker
measured no faster on 2 cores because the upstream and the load share them).
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from runtime.assets import cache_dir, small_model
from runtime.settings import Settings, load_settings, settings_from_dict

DEFAULT_TIER = "small"
DEFAULT_PRICE_SOURCE = (
    "g4dn.xlarge on-demand $0.526/h (us-east-1, infra/data/aws-catalog.json, 2026-07-20); throughput "
    "2000 prompt and 200 completion tokens/s for a 270M model on a T4 is an ASSUMPTION, not a measurement"
)


def default_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One local tier serving the embedded Gemma 3 270M (assembled into the cache dir on first use)."""
    env = environ if environ is not None else os.environ
    return {
        "tiers": [
            {
                "name": DEFAULT_TIER,
                "local": {"model_path": str(small_model(env)), "parallel": 2, "ctx_size": 4096, "n_gpu_layers": 0},
                "upstream_model": "gemma-3-270m",
                "price": {
                    "derived": {
                        "instance_hourly_usd": Decimal("0.526"),
                        "prompt_tokens_per_second": Decimal(2000),
                        "completion_tokens_per_second": Decimal(200),
                        "utilization": Decimal("0.5"),
                        "source": DEFAULT_PRICE_SOURCE,
                    }
                },
                "default_max_tokens": 256,
            }
        ],
        "budget": {"sqlite_path": str(cache_dir(env) / "spend.sqlite3")},
    }


def resolve_settings(config: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    env = environ if environ is not None else os.environ
    if config is not None:
        return load_settings(config, env)
    return settings_from_dict(default_config(env), env, source="built-in default (embedded small model)")


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM after a graceful shutdown: the stop was asked for, so the process exits 0."""


GC_THRESHOLDS = (20_000, 20, 20)
"""Young-generation threshold 20,000 allocations (CPython's default: 700). The router allocates
hundreds of short-lived containers per request and keeps every cached answer; with the default,
collections ran every few requests and full ones over the whole cache stalled the loop: under
wrk, 1-connection p99 went from 0.9 to 15-77 ms in some runs and 64-connection throughput was
~30% lower (docs/benchmarks.md, "Garbage collection on the hot path")."""


def tune_gc() -> None:
    """Freeze what start-up created (modules, schemas, the app) out of every later collection,
    and collect the young generation less often. Process-wide: called by the server entry, not by
    create_app."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(settings: Settings) -> None:
    """Serve until SIGINT, or until a drain (SIGTERM, POST /internal/drain) finishes; uvicorn's
    shutdown then runs the lifespan exit, which stops llama-servers.

    uvicorn re-raises the signal that stopped it once it has shut down, to the handler that was
    installed before it started. A SIGTERM is how orchestrators ask for a stop, so that handler
    does nothing and `run` returns normally: exit status 0 after a clean shutdown, not -SIGTERM.
    """
    import signal

    import uvicorn

    from runtime.app import create_app

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server: uvicorn.Server | None = None

    def drained(done: bool) -> None:
        # SIGTERM started a drain (runtime/drain.py); once it is over, uvicorn shuts down as usual.
        logging.getLogger(__name__).info("drain %s; shutting down", "complete" if done else "grace ran out")
        assert server is not None, "set before serving"
        server.should_exit = True

    config = uvicorn.Config(create_app(settings, on_drained=drained), **uvicorn_options(settings))
    server = uvicorn.Server(config)
    tune_gc()
    server.run()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments for these settings (also used by the tests' real-socket server)."""
    from runtime.connections import guarded_protocol

    server = settings.server
    return {
        "host": server.host,
        "port": server.port,
        "loop": "uvloop",
        "http": guarded_protocol(server),
        "access_log": False,
        "log_level": "info",
        "timeout_graceful_shutdown": int(math.ceil(server.shutdown_grace_s)),
        "timeout_keep_alive": server.keep_alive_timeout_s,
    }
