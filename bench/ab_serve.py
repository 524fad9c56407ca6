"""Serve the router of the checkout on PYTHONPATH the way that checkout serves in production:
uvloop, httptools, and its own HTTP protocol class when it has one (runtime.connections:
header/body deadlines and connection caps), so an A/B includes them; AB_PLAIN_HTTPTOOLS=1 serves
both with uvicorn's plain httptools protocol instead.

The app is built here, from this file's config (bench/router_overhead.py `bench_config`, imported
from the directory of this file, not from the checkout) and the checkout's `create_app`, so both
sides of an A/B run the same configuration: the real response cache, one remote tier, one tenant.

    PYTHONPATH=<checkout> python bench/ab_serve.py <port>
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn


def main() -> None:
    http: Any = "httptools"
    if os.environ.get("AB_PLAIN_HTTPTOOLS"):  # isolate the protocol's share of a difference
        return _run("httptools")
    try:
        from runtime.connections import guarded_protocol
        from runtime.settings import Server

        http = guarded_protocol(Server())
    except ImportError:
        pass  # a checkout from before the guarded protocol
    _run(http)


def _app() -> Any:
    from runtime.app import create_app
    from runtime.settings import settings_from_dict

    return create_app(settings_from_dict(_config(), {}), environ={})


def _config() -> dict[str, object]:
    # This file's own bench_config: the checkout under test may predate it or define another.
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "router_overhead.py")
    spec = importlib.util.spec_from_file_location("bench_router_overhead_config", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config: dict[str, object] = module.bench_config()
    return config


def _run(http: Any) -> None:
    app = _app()
    try:
        from runtime.serve import tune_gc  # production's collector settings, where the checkout has them
    except ImportError:
        pass
    else:
        tune_gc()
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http=http,
        log_level="warning", access_log=False, workers=None,
    )  # fmt: skip


if __name__ == "__main__":
    main()
