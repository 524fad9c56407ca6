"""A small exact in-memory response cache conforming to runtime.cache.protocol.ResponseCache.

For benchmarks and tests only (the real caches come from runtime/cache/): the key is a SHA-256 of
the tenant, the model, the messages and every answer-changing parameter, so one tenant's answer is
never served to another; entries are evicted least-recently-used past `max_entries`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import orjson

from runtime.accounting import usage_tokens
from runtime.cache.protocol import CachedResponse, CacheRequest


class ExactMemoryCache:
    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[bytes, CachedResponse] = OrderedDict()
        self.lookups = 0
        self.stores = 0

    @staticmethod
    def key(request: CacheRequest) -> bytes:
        raw = orjson.dumps(
            [request.tenant, request.model, request.messages, request.params], option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(raw).digest()

    async def lookup(self, request: CacheRequest) -> CachedResponse | None:
        self.lookups += 1
        if request.no_store or request.no_cache:
            return None
        hit = self.entries.get(self.key(request))
        if hit is not None:
            self.entries.move_to_end(self.key(request))
        return hit

    async def store(self, request: CacheRequest, body: dict[str, Any], tier: str) -> None:
        if request.no_store:
            return
        self.stores += 1
        tokens = usage_tokens(body) or (0, 0)
        self.entries[self.key(request)] = CachedResponse("exact", body, tier, tokens[0], tokens[1])
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    async def close(self) -> None:
        self.entries.clear()
