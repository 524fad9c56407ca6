"""Index-only lookup latency of the semantic cache's HNSW index (usearch, cosine, 384-d).

    .venv/bin/python bench/cache_index_latency.py [--sizes 10000,100000,1000000] [--dtype f32|f16|i8]

Random unit vectors (a worst case for HNSW: no cluster structure; real MiniLM embeddings search
~1.5-5x faster at the same size); one query at a time, as the router asks; p50/p99 over 2,000
queries at expansion_search 16/32/64. Each query is a stored vector moved to cosine 0.95 (what a
paraphrase looks like to the cache); "found" = that stored vector is among the 8 candidates (top-8
recall on pure random vectors is meaningless: all neighbours sit at cosine ~0.15). Build time,
usearch's memory_usage and bytes per entry.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine  # noqa: E402
from runtime.cache.index import new_index  # noqa: E402


def unit(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, 384), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    import glob

    centres = np.unique(
        np.concatenate([np.load(f) for f in glob.glob(str(REPO / "bench" / ".cache" / "emb-*.npy"))]), axis=0
    )
    if len(centres) == 0:
        raise SystemExit("no cached embeddings; fix: run bench/cache_quality.py once (it fills bench/.cache)")
    out = np.empty((n, 384), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        out[start : start + m] = 0.85 * centres[rng.integers(0, len(centres), m)] + np.sqrt(1 - 0.85**2) * unit(m, rng)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dtype", default="f32")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument(
        "--data",
        choices=("random", "clustered"),
        default="random",
        help="random unit vectors, or real MiniLM embeddings of the shared pair sets each spread into a "
        "cluster (cosine 0.85 to its centre): closer to what a cache holds",
    )
    parser.add_argument(
        "--expansion-add", type=int, default=None, help="build-time beam (production: 128); lower builds faster"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    ea = args.expansion_add or 128
    print(f"machine: {machine()}; data {args.data}, dtype {args.dtype}, connectivity 16, expansion_add {ea}")
    print("| entries | dtype | expansion_search | build s | p50 us | p99 us | found | index MiB | bytes/entry |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        index = new_index(args.dtype)
        if args.expansion_add:
            index.expansion_add = args.expansion_add
        data = unit(n, rng) if args.data == "random" else clustered(n, rng)
        t0 = time.perf_counter()
        for start in range(0, n, 100_000):
            index.add(
                np.arange(start, min(n, start + 100_000), dtype=np.uint64), data[start : start + 100_000], threads=2
            )
        build = time.perf_counter() - t0
        # queries as the cache sees them: a paraphrase of a stored entry (cosine ~0.95 to its
        # source); "found" = the source is among the 8 candidates
        sources = rng.integers(0, n, args.queries)
        noise = unit(args.queries, rng)
        queries = 0.95 * data[sources] + np.sqrt(1 - 0.95**2) * noise
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        mem = index.memory_usage
        for ef in (16, 32, 64):
            index.expansion_search = ef
            times = []
            for q in queries:
                t = time.perf_counter_ns()
                index.search(q, 8)
                times.append(time.perf_counter_ns() - t)
            p50, p99 = np.percentile(times, [50, 99]) / 1000
            found = index.search(queries, 8).keys
            recall = float(np.mean([int(s) in set(map(int, f)) for s, f in zip(sources, found, strict=True)]))
            row = (
                f"| {n:,} | {args.dtype} | {ef} | {build:.1f} | {p50:.0f} | {p99:.0f} | {recall:.3f} | "
                f"{mem / 2**20:.0f} | {mem / n:.0f} |"
            )
            print(row, flush=True)
        del index, data
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
