"""Fixtures of the load-balancing building blocks: a settable clock, the asyncio backend, two real llama-servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.assets import AssetError
from tests.runtime.balancer.llama_pair import LlamaPair


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def llama_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaPair]:
    try:
        pair = LlamaPair(tmp_path_factory.mktemp("llama-pair"))
    except AssetError as exc:
        pytest.fail(f"real-component tests need the built llama-server and the model: {exc}")
    try:
        yield pair.ensure()
    finally:
        pair.stop()
