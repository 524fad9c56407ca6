"""Response caches (exact and semantic) behind one protocol the router depends on."""

from runtime.cache.protocol import CachedResponse, CacheRequest, NullCache, ResponseCache

__all__ = ["CacheRequest", "CachedResponse", "NullCache", "ResponseCache"]
