"""What the contrast check adds to a semantic lookup, next to the embedding it follows.

    .venv/bin/python bench/contrast_latency.py [--repeat 5]

Candidates that reach verification: every pair of the contrast suite and every QQP calibration
pair with cosine >= 0.93 (the balanced threshold). For each, in one process and interleaved so
that the machine's load hits all three alike: the rules (verify.check), the contrast check
(Judge.contrast) and embedding the query (OnnxEmbedder.embed, one text, one thread: what a lookup
pays before any candidate exists). Reports p50 / p90 / p99 per candidate and the ratio of the
contrast check to the embedding; plus the one-off cost of loading the synonym table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import QQP, REPO, machine, pair_vectors  # noqa: E402
from runtime.cache.contrast import Judge, Synonyms, vocabulary  # noqa: E402
from runtime.cache.embedder import OnnxEmbedder  # noqa: E402
from runtime.cache.evaluate import load_pairs  # noqa: E402
from runtime.cache.verify import check  # noqa: E402

SUITE = REPO / "data" / "semantic-cache" / "contrast-suite.json"


def candidates() -> list[tuple[str, str]]:
    pairs = [(r["text_b"], r["text_a"]) for r in json.loads(SUITE.read_text())]
    qqp = load_pairs(QQP)
    va, vb = pair_vectors(qqp)
    cos = (va * vb).sum(axis=1)
    pairs += [(qqp.b[i], qqp.a[i]) for i in np.flatnonzero(cos >= 0.93)]
    return pairs


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def stats(name: str, seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    row = {f"p{q}": float(np.percentile(ms, q)) for q in (50, 90, 99)}
    print(f"| {name} | {row['p50']:.3f} | {row['p90']:.3f} | {row['p99']:.3f} |")
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="passes over the candidates")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    judge = Judge(vocabulary(), Synonyms())
    print(f"loading the vocabulary and synonym table (once per process): {1000 * (time.perf_counter() - start):.0f} ms")
    embedder = OnnxEmbedder(intra_op_threads=1)
    pairs = candidates()
    print(f"{len(pairs)} candidates (contrast suite + QQP pairs with cosine >= 0.93), {args.repeat} passes\n")
    rules, contrast, embed = [], [], []
    for _ in range(args.repeat):
        for query, cached in pairs:
            rules.append(timed(check, query, cached))
            contrast.append(timed(judge.contrast, query, cached))
            embed.append(timed(embedder.embed, [query]))
    print("| step (per candidate) | p50 ms | p90 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    stats("rules (verify.check)", rules)
    c = stats("contrast check (added by this change)", contrast)
    e = stats("embedding the query (for scale)", embed)
    print(f"\ncontrast check / embedding, p50: {c['p50'] / e['p50']:.4f} ({100 * c['p50'] / e['p50']:.2f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
