"""Fixtures for the router's tests: configs; the router in process with in-process fake tiers
(tests/runtime/inprocess.py); a real uvicorn server in a thread with real-socket fakes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from runtime.app import create_app
from runtime.serve import uvicorn_options
from runtime.settings import Settings, settings_from_dict
from runtime.supervisor import free_port
from tests.runtime.fake_llama import FakeLlama
from tests.runtime.inprocess import InProcessLlama

KEY_A = "sk-tenant-a-0123456789abcdef"
KEY_B = "sk-tenant-b-0123456789abcdef"


class RunningRouter:
    def __init__(self, url: str, server: uvicorn.Server, app: Any) -> None:
        self.url = url
        self.server = server
        self.app = app

    @property
    def rt(self) -> Any:
        """The live Runtime (tiers, breakers, budget) for assertions on state."""
        return self.server.lifespan.state["rt"]  # type: ignore[attr-defined]


@contextmanager
def run_router(settings: Settings, **kwargs: Any) -> Iterator[RunningRouter]:
    """Serve create_app(settings, **kwargs) with uvicorn on a free port until the block ends."""
    app = create_app(settings, environ={}, **kwargs)
    port = free_port()
    options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": port, "log_level": "warning"}
    config = uvicorn.Config(app, lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "router started within 30 s"
        assert thread.is_alive(), "router thread did not die while starting"
        time.sleep(0.02)
    try:
        yield RunningRouter(f"http://127.0.0.1:{port}", server, app)
    finally:
        server.should_exit = True
        thread.join(30)


def remote_tier(name: str, url: str, *, prompt: str, completion: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "price": {"prompt_per_1k": prompt, "completion_per_1k": completion}, **extra}


def config(tiers: list[dict[str, Any]], tmp_path: Path, **extra: Any) -> Settings:
    data: dict[str, Any] = {"tiers": tiers, "budget": {"sqlite_path": str(tmp_path / "spend.sqlite3")}, **extra}
    return settings_from_dict(data, {})


@pytest.fixture
def fake() -> Iterator[FakeLlama]:
    f = FakeLlama("primary").start()
    yield f
    f.stop()


@pytest.fixture
def fake2() -> Iterator[FakeLlama]:
    f = FakeLlama("secondary").start()
    yield f
    f.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def llama() -> InProcessLlama:
    return InProcessLlama("primary")


@pytest.fixture
def llama2() -> InProcessLlama:
    return InProcessLlama("secondary")
