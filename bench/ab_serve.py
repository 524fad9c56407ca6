"""Serve bench.router_overhead:app_factory of the checkout on PYTHONPATH the way that checkout serves
in production: uvloop, httptools, and its own HTTP protocol class when it has one
(runtime.connections: header/body deadlines and connection caps), so an A/B includes them;
AB_PLAIN_HTTPTOOLS=1 serves both with uvicorn's plain httptools protocol instead.

    PYTHONPATH=<checkout> python bench/ab_serve.py <port>
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn

from bench.router_overhead import app_factory


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


def _run(http: Any) -> None:
    uvicorn.run(
        app_factory(), host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http=http,
        log_level="warning", access_log=False, workers=None,
    )  # fmt: skip


if __name__ == "__main__":
    main()
