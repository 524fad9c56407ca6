"""Fit the learned scorer on the QQP calibration pairs' TRAINING split and choose the presets.

    .venv/bin/python bench/fit_scorer.py [--write]

The split is a seeded permutation (SPLIT_SEED): 60% train, 40% held out. The scorer is fitted on
the training pairs that the rules accept with cosine >= MIN_COSINE (the region where it is used);
the presets are chosen on the training split only (the largest hit rate at a training precision
target); then every number is reported on the held-out split, which neither step saw.
--write saves runtime/cache/data/scorer.json (the presets themselves live in settings.py: copy the
printed values there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import QQP, embed_pairs  # noqa: E402
from runtime.cache.evaluate import load_pairs, score_pairs  # noqa: E402
from runtime.cache.scorer import SCORER_PATH, Scorer, features, rejection  # noqa: E402
from runtime.cache.settings import SemanticPolicy  # noqa: E402
from runtime.cache.verify import check  # noqa: E402

SPLIT_SEED = 20261124
TRAIN_SHARE = 0.6
MIN_COSINE = 0.80


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    train = np.zeros(n, dtype=bool)
    train[order[: int(n * TRAIN_SHARE)]] = True
    return train, ~train


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="write runtime/cache/data/scorer.json")
    args = parser.parse_args()
    pairs = load_pairs(QQP)
    cos = embed_pairs(pairs)
    train, test = split(len(cos))
    ok = np.array([check(b, a).ok for a, b in zip(pairs.a, pairs.b, strict=True)])
    fit_rows = np.flatnonzero(train & ok & (cos >= MIN_COSINE))
    x = np.stack([features(pairs.b[i], pairs.a[i], float(cos[i])) for i in fit_rows])
    y = pairs.labels[fit_rows]
    scorer = Scorer.fit(x, y)
    print(f"fitted on {len(fit_rows)} training pairs ({int(y.sum())} duplicates); weights:")
    for name, w in zip(
        ("cosine", "jaccard", "unmatched_max", "unmatched_min", "proper", "len_ratio", "bias"),
        scorer.weights,
        strict=True,
    ):
        print(f"  {name:14s} {w:+.3f}")

    def decide(policy: SemanticPolicy, q: str, c: str, s: float) -> bool:
        return rejection(policy, q, c, s, scorer) is None

    grid = []
    for threshold in np.arange(0.80, 0.9851, 0.005):
        for p in (None, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
            policy = SemanticPolicy(threshold=round(float(threshold), 3), verify=True, min_probability=p)
            grid.append((policy, score_pairs(pairs, cos, policy, decide, train)))
    for name, target in (("conservative", 0.91), ("balanced", 0.85)):
        feasible = [(pol, s) for pol, s in grid if s.precision is not None and s.precision >= target]
        policy, tr = max(feasible, key=lambda item: (item[1].hit_rate, item[1].precision))
        held = score_pairs(pairs, cos, policy, decide, test)
        print(
            f"{name}: threshold={policy.threshold} min_probability={policy.min_probability} | "
            f"train P={tr.precision:.3f} hit={tr.hit_rate:.3f} | held-out P={held.precision:.3f} "
            f"hit={held.hit_rate:.3f} recall={held.recall:.3f} (n={held.pairs})"
        )
    if args.write:
        SCORER_PATH.parent.mkdir(parents=True, exist_ok=True)
        meta = {"fitted_on": "qqp-calibration-6000.json training split", "split_seed": SPLIT_SEED,
                "train_share": TRAIN_SHARE, "min_cosine": MIN_COSINE, "rows": len(fit_rows)}  # fmt: skip
        SCORER_PATH.write_text(json.dumps({**scorer.to_json(), "meta": meta}, indent=1) + "\n")
        print(f"wrote {SCORER_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
