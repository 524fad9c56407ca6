"""Cache hot-path latency, embedding latency/throughput with micro-batching, memory per entry.

.venv/bin/python bench/cache_latency.py
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import QQP, machine  # noqa: E402
from runtime.cache.cache import FrugalCache  # noqa: E402
from runtime.cache.embedder import MicroBatcher, OnnxEmbedder  # noqa: E402
from runtime.cache.evaluate import load_pairs  # noqa: E402
from runtime.cache.protocol import CacheRequest  # noqa: E402
from runtime.cache.settings import CacheSettings  # noqa: E402
from runtime.cache.store import Entry  # noqa: E402

SYSTEM = {"role": "system", "content": "You are a helpful assistant for ACME Corp. Answer briefly and cite sources."}


def request(text: str, tenant: str = "acme", semantic: bool = False) -> CacheRequest:
    messages = [SYSTEM, {"role": "user", "content": text}]
    return CacheRequest(tenant, "small", messages, {"temperature": 0, "max_tokens": 256}, semantic_enabled=semantic)


def body(text: str) -> dict:
    return {
        "id": "x", "object": "chat.completion", "created": 1, "model": "small",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 120, "total_tokens": 160},
    }  # fmt: skip


def pcts(ns: list[int]) -> str:
    p50, p99 = np.percentile(ns, [50, 99]) / 1000
    return f"p50 {p50:.1f} us, p99 {p99:.1f} us"


async def exact(texts: list[str]) -> None:
    cache = FrugalCache(CacheSettings(semantic_enabled=False))
    for t in texts[:10_000]:
        await cache.store(request(t), body("An answer of about a hundred words. " * 15), tier="small")
    hits, misses = [], []
    for t in texts[:5000]:
        s = time.perf_counter_ns()
        assert await cache.lookup(request(t)) is not None, "stored entries hit"
        hits.append(time.perf_counter_ns() - s)
        s = time.perf_counter_ns()
        await cache.lookup(request(t + " (unseen)"))
        misses.append(time.perf_counter_ns() - s)
    print(f"- exact lookup, 10,000 entries, answers ~550 B: hit {pcts(hits)}; miss {pcts(misses)}")


async def embedding(texts: list[str]) -> OnnxEmbedder:
    embedder = OnnxEmbedder(intra_op_threads=1)
    embedder.embed(texts[:8])
    single = []
    for t in texts[:300]:
        s = time.perf_counter_ns()
        embedder.embed([t])
        single.append(time.perf_counter_ns() - s)
    rate = 1e9 / np.mean(single)
    print(f"- embedding one query (intra-op threads 1): {pcts(single)}; {rate:.0f} queries/s sequential")
    for concurrency in (8, 32):
        batcher = MicroBatcher(embedder, max_in_flight=os.cpu_count() or 1)  # the cache's defaults
        batch = texts[1000 : 1000 + 640]
        s = time.perf_counter()
        for start in range(0, len(batch), concurrency):
            await asyncio.gather(*(batcher.embed_one(t) for t in batch[start : start + concurrency]))
        elapsed = time.perf_counter() - s
        print(
            f"- micro-batched, {concurrency} concurrent queries: {len(batch) / elapsed:.0f} queries/s "
            f"({batcher.batches} batches for {batcher.items} queries, "
            f"{1000 * elapsed / (len(batch) / concurrency):.1f} ms per wave)"
        )
    return embedder


async def semantic(texts: list[str], embedder: OnnxEmbedder) -> None:
    cache = FrugalCache(CacheSettings(), embedder=embedder)
    rng = np.random.default_rng(3)
    now = time.time()
    for i in range(20_000):
        v = rng.standard_normal(384).astype(np.float32)
        v /= np.linalg.norm(v)
        cache.insert(Entry(key=f"{i:040x}", tenant="acme", model="small", tier="small", body=b"x" * 550,
                           prompt_tokens=1, completion_tokens=1, created_at=now, expires_at=now + 3600,
                           scope="s", text=texts[i % len(texts)], vector=v))  # fmt: skip
    times = []
    for t in texts[2000:2300]:
        s = time.perf_counter_ns()
        await cache.lookup(request(t, semantic=True))
        times.append(time.perf_counter_ns() - s)
    print(f"- semantic lookup miss (exact miss + embed + HNSW over 20,000 + verify), one at a time: {pcts(times)}")


def memory(texts: list[str]) -> None:
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cache = FrugalCache(CacheSettings(max_bytes=2**33))
    rng = np.random.default_rng(4)
    now = time.time()
    n = 100_000
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    answer = b"An answer of about a hundred words. " * 15
    t0 = time.perf_counter()
    for i in range(n):
        cache.insert(Entry(key=f"{i:040x}", tenant="acme", model="small", tier="small", body=answer,
                           prompt_tokens=1, completion_tokens=1, created_at=now, expires_at=now + 3600,
                           scope="s", text=texts[i % len(texts)], vector=vectors[i].copy()))  # fmt: skip
    build = time.perf_counter() - t0
    del vectors
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    accounted = cache.stats()["bytes"]
    print(
        f"- memory, {n:,} semantic entries with {len(answer)} B answers: peak RSS +{(rss1 - rss0) / 1024:.0f} MiB "
        f"(includes the 147 MiB array of test vectors) = {(rss1 - rss0) * 1024 / n:.0f} B/entry measured; "
        f"accounted {accounted / n:.0f} B/entry; inserted in {build:.0f} s ({n / build:.0f}/s)"
    )


async def main() -> None:
    print(f"machine: {machine()}")
    pairs = load_pairs(QQP)
    texts = list(dict.fromkeys(pairs.a + pairs.b))
    await exact(texts)
    embedder = await embedding(texts)
    await semantic(texts, embedder)
    if "--skip-memory" not in sys.argv:
        memory(texts)


if __name__ == "__main__":
    asyncio.run(main())
