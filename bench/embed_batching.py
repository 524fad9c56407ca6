"""Semantic cache lookups: 16 concurrent (micro-batched embeddings) against one at a time.

    PYTHONPATH=. python -m bench.embed_batching [--queries 256] [--stored 200] [--rounds 3]
        [--intra-op-threads 1] [--raw]

Runs the real FrugalCache with the real MiniLM ONNX embedder over QQP questions (data/shared):
`--stored` questions are cached first, then `--queries` other questions are looked up (semantic
misses and a few hits: each costs an embedding, candidates and verification). Three ways, side by
side in one process and interleaved round by round so machine load hits them alike:

- sequential: one lookup at a time, as a lone client would send them;
- concurrent-16, unbatched: 16 lookups in flight, embed_max_batch=1 (each embedding runs alone);
- concurrent-16, micro-batched: 16 in flight with the production settings (embed_max_batch 32,
  embed_max_wait_ms 2): concurrent lookups share one model run.

- concurrent-16, eager (a proposal, defined here, not in runtime/cache): a batch starts as soon as
  a worker is free instead of after a fixed wait, and two batches may run at once (one per core).

Prints the machine, queries/s per way and round, the medians, and the batched/sequential ratio.
Then the model alone (`--raw`): the same queries embedded one by one, and in batches of 16 split
into length-sorted groups of 4, 8 and 16 (`embed_grouped`), to show what batching can gain at most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from bench.common import QQP
from bench.machine import machine
from runtime.cache.cache import FrugalCache
from runtime.cache.embedder import OnnxEmbedder, embed_grouped
from runtime.cache.evaluate import load_pairs
from runtime.cache.protocol import CacheRequest
from runtime.cache.settings import CacheSettings

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}


class EagerBatcher:
    """The proposed batcher: no wait when idle; what queues while `workers` batches run forms the next."""

    def __init__(self, embedder: OnnxEmbedder, *, max_batch: int = 16, group: int = 4, workers: int = 2) -> None:
        self.embedder, self.max_batch, self.group, self.workers = embedder, max_batch, group, workers
        self.pending: list[tuple[str, asyncio.Future[Any]]] = []
        self.running = 0
        self.batches = self.items = 0

    async def embed_one(self, text: str) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((text, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        while self.pending and self.running < self.workers:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            self.running += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        try:
            vectors = await asyncio.to_thread(embed_grouped, self.embedder, [t for t, _ in batch], self.group)
            self.batches += 1
            self.items += len(batch)
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        finally:
            self.running -= 1
            self._kick()


def request(text: str) -> CacheRequest:
    messages = [SYSTEM, {"role": "user", "content": text}]
    return CacheRequest("acme", "small", messages, {"temperature": 0, "max_tokens": 256}, semantic_enabled=True)


def answer(text: str) -> dict[str, Any]:
    return {
        "id": "x", "object": "chat.completion", "created": 1, "model": "small",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 120, "total_tokens": 160},
    }  # fmt: skip


async def build(embedder: OnnxEmbedder, stored: list[str], max_batch: int) -> FrugalCache:
    cache = FrugalCache(CacheSettings(embed_max_batch=max_batch), embedder=embedder)
    await asyncio.gather(*(cache.store(request(t), answer(t), "small") for t in stored))
    return cache


async def sequential(cache: FrugalCache, queries: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    hits = 0
    for q in queries:
        hits += (await cache.lookup(request(q))) is not None
    return len(queries) / (time.perf_counter() - t0), hits


async def concurrent(cache: FrugalCache, queries: list[str], concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)

    async def one(q: str) -> bool:
        async with sem:
            return (await cache.lookup(request(q))) is not None

    t0 = time.perf_counter()
    hits = sum(await asyncio.gather(*(one(q) for q in queries)))
    return len(queries) / (time.perf_counter() - t0), hits


def raw_shapes(embedder: OnnxEmbedder, queries: list[str], rounds: int) -> dict[str, float]:
    """Queries/s of the model alone, by batch shape (median over rounds, shapes interleaved)."""
    shapes: dict[str, list[float]] = {"one_by_one": [], "batch16_groups4": [], "batch16_groups8": [],
                                      "batch16_groups16": []}  # fmt: skip
    for _ in range(rounds):
        for shape in shapes:
            t0 = time.perf_counter()
            if shape == "one_by_one":
                for q in queries:
                    embedder.embed([q])
            else:
                group = int(shape.rsplit("groups", 1)[1])
                for start in range(0, len(queries), 16):
                    embed_grouped(embedder, queries[start : start + 16], group)
            shapes[shape].append(len(queries) / (time.perf_counter() - t0))
    return {shape: round(statistics.median(v), 1) for shape, v in shapes.items()}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    pairs = load_pairs(QQP)
    stored = pairs.a[: args.stored]
    # Half the queries are paraphrases of stored questions (possible hits), half unrelated (misses).
    queries = [*pairs.b[: args.queries // 2], *pairs.b[3000 : 3000 + args.queries - args.queries // 2]]
    embedder = OnnxEmbedder(intra_op_threads=args.intra_op_threads)
    ways: dict[str, list[float]] = {
        "sequential": [],
        "concurrent16_unbatched": [],
        "concurrent16_batched": [],
        "sequential_eager": [],
        "concurrent16_eager": [],
    }
    hits: dict[str, int] = {}
    mean_batch = 0.0
    for _ in range(args.rounds):
        for way in ways:
            cache = await build(embedder, stored, 1 if way == "concurrent16_unbatched" else 32)
            if way.endswith("eager"):
                cache._batcher = EagerBatcher(embedder)  # type: ignore[assignment]
            if way.startswith("sequential"):
                qps, h = await sequential(cache, queries)
            else:
                qps, h = await concurrent(cache, queries, 16)
            ways[way].append(round(qps, 1))
            hits[way] = h
            batcher = cache._batcher
            if way == "concurrent16_batched" and batcher is not None:
                mean_batch = round(batcher.items / max(1, batcher.batches), 1)
    medians = {way: statistics.median(v) for way, v in ways.items()}
    raw = raw_shapes(embedder, queries, args.rounds) if args.raw else None
    return {
        "machine": machine(),
        "queries": len(queries),
        "stored": len(stored),
        "intra_op_threads": args.intra_op_threads,
        "queries_per_s": ways,
        "median_queries_per_s": medians,
        "hits": hits,
        "mean_batch_size_batched_last_round": mean_batch,
        "batched_over_sequential": round(medians["concurrent16_batched"] / medians["sequential"], 2),
        "batched_over_unbatched": round(medians["concurrent16_batched"] / medians["concurrent16_unbatched"], 2),
        "eager_concurrent_over_sequential": round(medians["concurrent16_eager"] / medians["sequential"], 2),
        "model_alone_queries_per_s": raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--stored", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw", action="store_true", help="also time the model alone by batch shape")
    parser.add_argument("--intra-op-threads", type=int, default=1, help="onnxruntime threads (production: 1)")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
