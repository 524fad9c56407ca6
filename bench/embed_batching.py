"""Semantic cache lookups: 16 concurrent (micro-batched embeddings) against one at a time.

    PYTHONPATH=. python -m bench.embed_batching [--queries 256] [--stored 200] [--rounds 3]
        [--intra-op-threads 1] [--raw]

Runs the real FrugalCache with the real MiniLM ONNX embedder over QQP questions (data/shared):
`--stored` questions are cached first, then `--queries` other questions are looked up (semantic
misses and a few hits: each costs an embedding, candidates and verification). Side by side in one
process, interleaved round by round so machine load hits them alike, every way through the same
production cache path and `MicroBatcher`:

- sequential: one lookup at a time with the production settings, as a lone client sends them;
- sequential, 2 ms wait: the same with `embed_max_wait_ms=2` (the former default: a lone lookup
  waited for companions), to show what that wait cost;
- concurrent-16, micro-batched: 16 lookups in flight with the production settings (a batch starts
  when a slot is free, one slot per core, batches of at most 16 cut into runs by token count);
- concurrent-16, one slot: the same with `embed_max_in_flight=1` (batching alone, one core);
- concurrent-16, unbatched: `embed_max_batch=1` (every embedding alone, one slot per core).

Prints the machine, queries/s per way and round, the medians, and the ratios to sequential.
Then the model alone (`--raw`): the same queries embedded one by one (1 and 2 intra-op threads),
in batches of 16 as one run, as runs of 4 sorted by characters (the former rule) and as planned
by `embed_grouped`, and batches on two threads at once: the most any batcher can get out of this
model on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import QQP
from bench.machine import machine
from runtime.cache.cache import FrugalCache
from runtime.cache.embedder import OnnxEmbedder
from runtime.cache.evaluate import load_pairs
from runtime.cache.protocol import CacheRequest
from runtime.cache.settings import CacheSettings

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}


def request(text: str) -> CacheRequest:
    messages = [SYSTEM, {"role": "user", "content": text}]
    return CacheRequest("acme", "small", messages, {"temperature": 0, "max_tokens": 256}, semantic_enabled=True)


def answer(text: str) -> dict[str, Any]:
    return {
        "id": "x", "object": "chat.completion", "created": 1, "model": "small",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 120, "total_tokens": 160},
    }  # fmt: skip


WAYS: dict[str, dict[str, Any]] = {
    "sequential": {},
    "sequential_2ms_wait": {"embed_max_wait_ms": 2.0},
    "concurrent16_batched": {},
    "concurrent16_one_slot": {"embed_max_in_flight": 1},
    "concurrent16_unbatched": {"embed_max_batch": 1},
}
"""Each way's settings on top of the production defaults (CacheSettings())."""


async def build(embedder: OnnxEmbedder, stored: list[str], overrides: dict[str, Any]) -> FrugalCache:
    cache = FrugalCache(CacheSettings(**overrides), embedder=embedder)
    await asyncio.gather(*(cache.store(request(t), answer(t), "small") for t in stored))
    if cache._batcher is not None:  # count the lookups' batches only, not the filling's
        cache._batcher.batches = cache._batcher.items = 0
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


def raw_shapes(embedder: OnnxEmbedder, two_threads: OnnxEmbedder, queries: list[str], rounds: int) -> dict[str, float]:
    """Queries/s of the model alone, by batch shape (median over rounds, shapes interleaved)."""

    def planned(size: int, model: OnnxEmbedder = embedder) -> list[Callable[[], Any]]:
        """Batches of `size` as production runs them: cut into runs by token count (plan_groups)."""
        return [
            functools.partial(model.embed_grouped, queries[start : start + size], size)
            for start in range(0, len(queries), size)
        ]

    def fixed(size: int, group: int) -> list[Callable[[], Any]]:
        """Batches of `size` sorted by characters and cut into runs of `group` (the former rule)."""
        calls: list[Callable[[], Any]] = []
        for start in range(0, len(queries), size):
            batch = sorted(queries[start : start + size], key=len)
            calls += [functools.partial(embedder.embed, batch[i : i + group]) for i in range(0, size, group)]
        return calls

    def serial(calls: list[Callable[[], Any]]) -> None:
        for call in calls:
            call()

    def parallel(calls: list[Callable[[], Any]]) -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda call: call(), calls))

    shapes: dict[str, Callable[[], None]] = {
        "one_by_one": lambda: serial(fixed(1, 1)),
        "one_by_one_2_intra_op_threads": lambda: serial(planned(1, two_threads)),
        "batch16_one_run": lambda: serial(fixed(16, 16)),
        "batch16_runs_of_4_by_characters": lambda: serial(fixed(16, 4)),
        "batch16_planned": lambda: serial(planned(16)),
        "one_by_one_2_at_once": lambda: parallel(fixed(1, 1)),
        "batch8_planned_2_at_once": lambda: parallel(planned(8)),
        "batch16_planned_2_at_once": lambda: parallel(planned(16)),
    }
    rates: dict[str, list[float]] = {shape: [] for shape in shapes}
    for _ in range(rounds):
        for shape, run in shapes.items():
            t0 = time.perf_counter()
            run()
            rates[shape].append(len(queries) / (time.perf_counter() - t0))
    return {shape: round(statistics.median(v), 1) for shape, v in rates.items()}


def run_cost_ms(embedder: OnnxEmbedder, repeats: int = 20) -> dict[str, float]:
    """Milliseconds per model run by shape (rows x tokens, a real word's id repeated): what a run
    costs beyond its tokens (the basis of embedder.RUN_OVERHEAD_TOKENS)."""
    costs: dict[str, float] = {}
    for rows, tokens in ((1, 8), (1, 64), (16, 8), (16, 16)):
        ids = [[101, *([2054] * (tokens - 2)), 102]] * rows
        embedder.embed_ids(ids)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            embedder.embed_ids(ids)
            times.append(time.perf_counter() - t0)
        costs[f"{rows}x{tokens}_tokens"] = round(1000 * statistics.median(times), 2)
    return costs


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    pairs = load_pairs(QQP)
    stored = pairs.a[: args.stored]
    # Half the queries are paraphrases of stored questions (possible hits), half unrelated (misses).
    queries = [*pairs.b[: args.queries // 2], *pairs.b[3000 : 3000 + args.queries - args.queries // 2]]
    embedder = OnnxEmbedder(intra_op_threads=args.intra_op_threads)
    ways: dict[str, list[float]] = {way: [] for way in WAYS}
    hits: dict[str, int] = {}
    mean_batch: dict[str, float] = {}
    for _ in range(args.rounds):
        for way, overrides in WAYS.items():
            cache = await build(embedder, stored, overrides)
            if way.startswith("sequential"):
                qps, h = await sequential(cache, queries)
            else:
                qps, h = await concurrent(cache, queries, 16)
            ways[way].append(round(qps, 1))
            hits[way] = h
            batcher = cache._batcher
            if batcher is not None:
                mean_batch[way] = round(batcher.items / max(1, batcher.batches), 1)
    medians = {way: statistics.median(v) for way, v in ways.items()}
    raw = run_cost = None
    if args.raw:
        raw = raw_shapes(embedder, OnnxEmbedder(intra_op_threads=2), queries, args.rounds)
        run_cost = run_cost_ms(embedder)
    base = medians["sequential"]
    return {
        "machine": machine(),
        "queries": len(queries),
        "stored": len(stored),
        "intra_op_threads": args.intra_op_threads,
        "queries_per_s": ways,
        "median_queries_per_s": medians,
        "hits": hits,
        "mean_batch_size_of_lookups_last_round": mean_batch,
        "over_sequential": {way: round(m / base, 2) for way, m in medians.items()},
        "model_alone_queries_per_s": raw,
        "model_run_ms_by_rows_x_tokens": run_cost,
        "model_alone_over_one_by_one": None
        if raw is None
        else {shape: round(r / raw["one_by_one"], 2) for shape, r in raw.items()},
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
