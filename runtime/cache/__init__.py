"""Response caches (exact and semantic) behind one protocol the router depends on."""

# onnxruntime must be loaded before usearch: the other order segfaults inside onnxruntime's
# extension module (seen with onnxruntime 1.32 + usearch 2.26 on Python 3.11). Every module of
# this package imports through here first, so the order holds whatever the caller imports.
import contextlib

with contextlib.suppress(ImportError):  # the exact cache works without the embedding runtime
    import onnxruntime  # noqa: F401

from runtime.cache.protocol import CachedResponse, CacheRequest, NullCache, ResponseCache  # noqa: E402

__all__ = ["CacheRequest", "CachedResponse", "NullCache", "ResponseCache"]
