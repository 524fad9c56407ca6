"""Semantic cache quality on both shared pair sets: raw cosine vs cosine + verification.

    .venv/bin/python bench/cache_quality.py > /tmp/quality.md

Pairwise (each pair on its own: would text_b hit a cache holding text_a?) precision / recall / hit
rate per threshold on QQP (6,000 labelled pairs) and GPTCache's 999 paraphrases; the presets on
the full QQP file and on its seeded 60/40 train/held-out split; GPTCache's own benchmark (cache all
999 origins in one index, ask every similar, count right and wrong retrievals).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import GPTCACHE, QQP, machine, pair_vectors  # noqa: E402
from bench.fit_scorer import split  # noqa: E402
from runtime.cache.evaluate import load_pairs, retrieval, score_pairs  # noqa: E402
from runtime.cache.scorer import accepts  # noqa: E402
from runtime.cache.settings import PRESETS, SemanticPolicy  # noqa: E402

THRESHOLDS = (0.85, 0.88, 0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.965, 0.97, 0.98)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def sweep_table(name: str, pairs, cos) -> None:
    print(f"\n#### {name}: threshold sweep (pairwise)\n")
    print(
        "| threshold | raw precision | raw recall | raw hit rate | verified precision | verified recall |"
        " verified hit rate |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t in THRESHOLDS:
        r = score_pairs(pairs, cos, SemanticPolicy(threshold=t, verify=False), accepts)
        v = score_pairs(pairs, cos, SemanticPolicy(threshold=t, verify=True), accepts)
        print(
            f"| {t:.3f} | {pct(r.precision)} | {pct(r.recall)} | {pct(r.hit_rate)} | "
            f"{pct(v.precision)} | {pct(v.recall)} | {pct(v.hit_rate)} |"
        )


def main() -> int:
    print(f"machine: {machine()}")
    qqp = load_pairs(QQP)
    qa, qb = pair_vectors(qqp)
    qcos = (qa * qb).sum(axis=1)
    sweep_table("QQP calibration (6,000 pairs, 2,244 duplicates)", qqp, qcos)
    train, test = split(len(qcos))
    print("\n#### Presets on QQP: full file, training split (60%), held-out split (40%)\n")
    print("| preset | policy | full precision | full hit rate | full recall | train precision | train hit rate |"
          " held-out precision | held-out hit rate | held-out recall |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, policy in PRESETS.items():
        f = score_pairs(qqp, qcos, policy, accepts)
        tr = score_pairs(qqp, qcos, policy, accepts, train)
        te = score_pairs(qqp, qcos, policy, accepts, test)
        print(
            f"| {name} | cos>={policy.threshold}, verify={policy.verify} | {pct(f.precision)} | {pct(f.hit_rate)} | "
            f"{pct(f.recall)} | {pct(tr.precision)} | {pct(tr.hit_rate)} | {pct(te.precision)} | "
            f"{pct(te.hit_rate)} | {pct(te.recall)} |"
        )
    g = load_pairs(GPTCACHE)
    ga, gb = pair_vectors(g)
    gcos = (ga * gb).sum(axis=1)
    sweep_table("GPTCache paraphrases (999 pairs, all duplicates)", g, gcos)
    print("\n#### GPTCache's own benchmark: 999 origins cached, 999 similar asked (best accepted candidate)\n")
    print("| threshold | raw right | raw wrong | raw hit rate | raw precision | verified right | verified wrong |"
          " verified hit rate | verified precision |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in (0.80, 0.85, 0.90, 0.93, 0.95, 0.965, 0.97):
        r = retrieval(g, ga, gb, SemanticPolicy(threshold=t, verify=False), accepts)
        v = retrieval(g, ga, gb, SemanticPolicy(threshold=t, verify=True), accepts)
        print(
            f"| {t:.3f} | {r.right} | {r.wrong} | {pct(r.hit_rate)} | {pct(r.precision)} | {v.right} | {v.wrong} | "
            f"{pct(v.hit_rate)} | {pct(v.precision)} |"
        )
    dup = len(g.a) - len(set(g.a))
    print(f"\n(origins that occur more than once in the 999: {dup}; retrieving an identical text counts wrong)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
