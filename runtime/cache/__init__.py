"""Response caches (exact and semantic) behind one protocol the router depends on.

Layers, each importing only the ones above it:
  leaves        protocol, settings, keys, metrics, verify, scorer, embedder, store, index, records
  local tier    local.py: entries, the HNSW index, label maps and the semantic lookup
  on the local  persist.py (snapshot files) and shared.py (the Redis tier), each using only the local tier
  facade        cache.py: FrugalCache, the ResponseCache the router uses, composing the three
  admin         admin.py: the admin routes, reading the cache from the app's state

onnxruntime and usearch are imported on first semantic use (index.py, embedder.py), never here.
"""

from runtime.cache.protocol import CachedResponse, CacheRequest, NullCache, ResponseCache

__all__ = ["CacheRequest", "CachedResponse", "NullCache", "ResponseCache"]
