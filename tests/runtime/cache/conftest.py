"""Fixtures of the cache suites: the real embedder (loaded once), a real redis-server, requests."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.cache.embedder import OnnxEmbedder
from runtime.cache.protocol import CacheRequest
from tests.redis_server import RedisServer

__all__ = ["RedisServer"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


class Clock:
    """A settable clock for TTL tests."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ask(
    text: str,
    *,
    tenant: str = "acme",
    model: str = "small",
    history: list[dict[str, Any]] | None = None,
    semantic: bool = True,
    temperature: float | None = 0.0,
    **kw: Any,
) -> CacheRequest:
    messages = [*(history or []), {"role": "user", "content": text}]
    params: dict[str, Any] = {"max_tokens": 128}
    if temperature is not None:
        params["temperature"] = temperature
    params.update(kw.pop("params", {}))
    return CacheRequest(tenant=tenant, model=model, messages=messages, params=params, semantic_enabled=semantic, **kw)


def answer(text: str, prompt_tokens: int = 20, completion_tokens: int = 30) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "small",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip
