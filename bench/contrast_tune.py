"""The contrast check on its tuning data only: QQP's training split and the suite's `tune` part.

    .venv/bin/python bench/contrast_tune.py [--show 40]

What the contrast check's rules were chosen with. It never reads QQP's held-out split nor the
suite's held-out, fresh or fresh2 parts (bench/cache_quality.py reports those), so running it as
often as one likes while changing contrast.py leaves those figures blind. Prints, per preset,
precision / hit rate on the training split with and without the contrast check, the true
duplicates the check refuses (lost hits: what a new rule may win back) and the non-duplicates it
refuses (wins a rule must keep), then the tune part's wrong hits and paraphrase hits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import QQP, REPO, pair_vectors  # noqa: E402
from bench.fit_scorer import split  # noqa: E402
from runtime.cache.contrast import default_judge  # noqa: E402
from runtime.cache.evaluate import Pairs, load_pairs, score_pairs  # noqa: E402
from runtime.cache.scorer import accepts  # noqa: E402
from runtime.cache.settings import PRESETS, SemanticPolicy  # noqa: E402
from runtime.cache.verify import check  # noqa: E402

SUITE = REPO / "data" / "semantic-cache" / "contrast-suite.json"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def rules_only(policy: SemanticPolicy, query: str, cached: str, similarity: float) -> bool:
    return similarity >= policy.threshold and (not policy.verify or check(query, cached).ok)


def qqp_train(show: int) -> None:
    qqp = load_pairs(QQP)
    va, vb = pair_vectors(qqp)
    cos = (va * vb).sum(axis=1)
    train, _ = split(len(cos))
    judge = default_judge()
    print("| preset | train: rules | train: rules + contrast |")
    print("|---|---:|---:|")
    for name, policy in PRESETS.items():
        old = score_pairs(qqp, cos, policy, rules_only, train)
        new = score_pairs(qqp, cos, policy, accepts, train)
        print(
            f"| {name} | {pct(old.precision)} / {pct(old.hit_rate)} ({old.hits}) | "
            f"{pct(new.precision)} / {pct(new.hit_rate)} ({new.hits}) |"
        )
    floor = PRESETS["balanced"].threshold
    lost, kept = [], []
    for i in np.flatnonzero(train & (cos >= floor)):
        if not check(qqp.b[i], qqp.a[i]).ok:
            continue
        sub = judge.contrast(qqp.b[i], qqp.a[i])
        if sub is None:
            continue
        line = f"{cos[i]:.3f} {sub.reason}: {' '.join(sub.a)!r} / {' '.join(sub.b)!r} | {qqp.a[i]!r} / {qqp.b[i]!r}"
        (lost if qqp.labels[i] == 1 else kept).append((float(cos[i]), line))
    for title, rows in (("true duplicates refused (lost hits)", lost), ("non-duplicates refused (kept wins)", kept)):
        print(f"\n{title}, training split, cosine >= {floor}: {len(rows)}")
        for _, line in sorted(rows, reverse=True)[:show]:
            print("  " + line)


def tune_part() -> None:
    records = [r for r in json.loads(SUITE.read_text()) if r["split"] == "tune"]
    path = REPO / "bench" / ".cache" / "suite-tune.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    pairs: Pairs = load_pairs(path)
    va, vb = pair_vectors(pairs)
    cos = (va * vb).sum(axis=1)
    print("\n| tune part | wrong hits: rules | rules + contrast | paraphrase hits: rules | rules + contrast |")
    print("|---|---:|---:|---:|---:|")
    policies = {**PRESETS, "any cosine (0.0)": SemanticPolicy(threshold=0.0)}
    for name, policy in policies.items():
        old = score_pairs(pairs, cos, policy, rules_only)
        new = score_pairs(pairs, cos, policy, accepts)
        print(
            f"| {name} | {old.hits - old.true_hits} | {new.hits - new.true_hits} | {old.true_hits} | {new.true_hits} |"
        )
    zero = SemanticPolicy(threshold=0.0)
    for i in range(len(pairs.a)):
        hit = accepts(zero, pairs.b[i], pairs.a[i], float(cos[i]))
        if hit and pairs.labels[i] == 0:
            print(f"  wrong hit (any cosine): {pairs.a[i]!r} / {pairs.b[i]!r}")
        if not hit and pairs.labels[i] == 1:
            print(f"  paraphrase refused: {pairs.a[i]!r} / {pairs.b[i]!r} ({check(pairs.b[i], pairs.a[i]).reason})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", type=int, default=40, help="examples listed per kind")
    args = parser.parse_args()
    qqp_train(args.show)
    tune_part()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
