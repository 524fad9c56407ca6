"""The seam between the router and the response caches.

The router builds one `CacheRequest` per chat completion after auth and validation and before
routing, asks `lookup`, and on a miss calls `store` with the upstream's full (non-streaming)
response body once it has it. Everything a cache needs to scope an entry (tenant, requested model,
the conversation, every answer-changing parameter, the tenant's and the request's cache controls)
is in the request; the cache never reaches into the router.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class CacheRequest:
    tenant: str
    model: str
    """The model as requested after alias resolution: a tier name, or 'auto'."""
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    """Every request field that can change the answer (temperature, top_p, max_tokens, stop, seed,
    tools, tool_choice, response_format, ...), as sent; the cache decides what is deterministic."""
    stream: bool = False
    semantic_enabled: bool = False
    """The tenant opted in to semantic matching (exact matching is on by default)."""
    no_store: bool = False
    """`cache: no-store`: neither read nor write."""
    no_cache: bool = False
    """`cache: no-cache`: do not answer from the cache, but store the fresh answer."""
    similarity_threshold: float | None = None
    """A per-tenant override of the semantic threshold; None = the cache's configured default."""
    extra: dict[str, Any] = field(default_factory=dict)
    exact_key_memo: str | None = field(default=None, init=False, repr=False, compare=False)
    """Set once by keys.exact_key: the lookup, single-flight and the store all ask for the key."""


@dataclass(frozen=True)
class CachedResponse:
    kind: Literal["exact", "semantic"]
    body: dict[str, Any]
    """An OpenAI `chat.completion` object, as first returned by the upstream."""
    tier: str
    """The tier that produced the answer (for pricing what the hit saved)."""
    prompt_tokens: int
    completion_tokens: int
    similarity: float | None = None


class ResponseCache(Protocol):
    async def lookup(self, request: CacheRequest) -> CachedResponse | None: ...

    async def store(self, request: CacheRequest, body: dict[str, Any], tier: str) -> None: ...

    async def close(self) -> None: ...


class NullCache:
    """No caching at all: every lookup misses, nothing is kept."""

    async def lookup(self, request: CacheRequest) -> CachedResponse | None:
        return None

    async def store(self, request: CacheRequest, body: dict[str, Any], tier: str) -> None:
        return None

    async def close(self) -> None:
        return None
