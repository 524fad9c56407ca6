"""Semantic cache quality: raw cosine vs the rules vs the rules + the contrast check, on three pair sets.

    .venv/bin/python bench/cache_quality.py > /tmp/quality.md

Pairwise (each pair on its own: would text_b hit a cache holding text_a?) precision / recall / hit
rate per threshold on QQP (6,000 labelled pairs) and GPTCache's 999 paraphrases; the presets on
QQP's seeded 60/40 train/held-out split; the contrast suite (data/semantic-cache/contrast-suite.json)
per split and kind; GPTCache's own benchmark (cache all 999 origins in one index, ask every
similar, count right and wrong retrievals).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import GPTCACHE, QQP, REPO, machine, pair_vectors  # noqa: E402
from bench.fit_scorer import split  # noqa: E402
from runtime.cache.evaluate import Pairs, load_pairs, retrieval, score_pairs  # noqa: E402
from runtime.cache.scorer import accepts  # noqa: E402
from runtime.cache.settings import PRESETS, SemanticPolicy  # noqa: E402
from runtime.cache.verify import check  # noqa: E402

THRESHOLDS = (0.85, 0.88, 0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.965, 0.97, 0.98)
SUITE = REPO / "data" / "semantic-cache" / "contrast-suite.json"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def rules_only(policy: SemanticPolicy, query: str, cached: str, similarity: float) -> bool:
    """The decision before the contrast check: threshold + verify.py's rules."""
    return similarity >= policy.threshold and (not policy.verify or check(query, cached).ok)


def sweep_table(name: str, pairs, cos) -> None:
    print(f"\n#### {name}: threshold sweep (pairwise; precision / hit rate)\n")
    print("| threshold | raw cosine | + rules | + rules + contrast | recall (rules + contrast) |")
    print("|---:|---:|---:|---:|---:|")
    for t in THRESHOLDS:
        r = score_pairs(pairs, cos, SemanticPolicy(threshold=t, verify=False), accepts)
        o = score_pairs(pairs, cos, SemanticPolicy(threshold=t, verify=True), rules_only)
        v = score_pairs(pairs, cos, SemanticPolicy(threshold=t, verify=True), accepts)
        print(
            f"| {t:.3f} | {pct(r.precision)} / {pct(r.hit_rate)} | {pct(o.precision)} / {pct(o.hit_rate)} | "
            f"{pct(v.precision)} / {pct(v.hit_rate)} | {pct(v.recall)} |"
        )


def suite_tables() -> None:
    records = json.loads(SUITE.read_text())
    print("\n#### Contrast suite: wrong hits among contrasts, hits among paraphrases\n")
    print("| split | pairs (contrasts / paraphrases) | policy | wrong hits: rules | wrong hits: rules + contrast |"
          " paraphrase hits: rules | paraphrase hits: rules + contrast |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|")
    policies = {**PRESETS, "any cosine (0.0)": SemanticPolicy(threshold=0.0)}
    misses: dict[str, list[str]] = {}
    for name in ("tune", "held-out", "fresh", "fresh2"):
        part = [r for r in records if r["split"] == name]
        pairs = load_pairs_from(part)
        va, vb = pair_vectors(pairs)
        cos = (va * vb).sum(axis=1)
        contrasts = pairs.labels == 0
        for label, policy in policies.items():
            old = score_pairs(pairs, cos, policy, rules_only)
            new = score_pairs(pairs, cos, policy, accepts)
            n_contrast, n_para = int(contrasts.sum()), int((~contrasts).sum())
            print(
                f"| {name} | {n_contrast} / {n_para} | {label} | {old.hits - old.true_hits} | "
                f"{new.hits - new.true_hits} | {old.true_hits} | {new.true_hits} |"
            )
            if policy.verify:
                misses.setdefault(name, []).extend(
                    f"{label}: {pairs.a[i]!r} / {pairs.b[i]!r} (cosine {cos[i]:.3f})"
                    for i in range(len(pairs.a))
                    if pairs.labels[i] == 0 and accepts(policy, pairs.b[i], pairs.a[i], float(cos[i]))
                )
    for name, found in misses.items():
        for line in dict.fromkeys(found):
            print(f"\nwrong hit, {name}: {line}")
    print("\n#### Contrast suite by kind (held-out, fresh, fresh2; balanced): wrong hits, rules -> rules + contrast\n")
    print("| kind | contrasts | rules | rules + contrast |")
    print("|---|---:|---:|---:|")
    part = [r for r in records if r["split"] != "tune" and r["label"] == 0]
    pairs = load_pairs_from(part)
    va, vb = pair_vectors(pairs)
    cos = (va * vb).sum(axis=1)
    policy = PRESETS["balanced"]
    for kind in dict.fromkeys(r["kind"] for r in part):
        idx = [i for i, r in enumerate(part) if r["kind"] == kind]
        old = sum(rules_only(policy, pairs.b[i], pairs.a[i], float(cos[i])) for i in idx)
        new = sum(accepts(policy, pairs.b[i], pairs.a[i], float(cos[i])) for i in idx)
        print(f"| {kind} | {len(idx)} | {old} | {new} |")


def load_pairs_from(records: list[dict[str, object]]) -> Pairs:
    path = REPO / "bench" / ".cache" / "suite-part.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return load_pairs(path)


def main() -> int:
    print(f"machine: {machine()}")
    qqp = load_pairs(QQP)
    qa, qb = pair_vectors(qqp)
    qcos = (qa * qb).sum(axis=1)
    sweep_table("QQP calibration (6,000 pairs, 2,244 duplicates)", qqp, qcos)
    train, test = split(len(qcos))
    print("\n#### Presets on QQP: training split (60%, tuned on) and held-out split (40%, never tuned on)\n")
    print("| preset | policy | train: rules + contrast | held-out: raw cosine | held-out: rules |"
          " held-out: rules + contrast | held-out recall |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, policy in PRESETS.items():
        tr = score_pairs(qqp, qcos, policy, accepts, train)
        raw = score_pairs(qqp, qcos, policy.model_copy(update={"verify": False}), accepts, test)
        old = score_pairs(qqp, qcos, policy, rules_only, test)
        te = score_pairs(qqp, qcos, policy, accepts, test)
        print(
            f"| {name} | cos>={policy.threshold}, verify={policy.verify} | {pct(tr.precision)} / {pct(tr.hit_rate)} | "
            f"{pct(raw.precision)} / {pct(raw.hit_rate)} | {pct(old.precision)} / {pct(old.hit_rate)} | "
            f"{pct(te.precision)} / {pct(te.hit_rate)} ({te.hits} hits) | {pct(te.recall)} |"
        )
    suite_tables()
    g = load_pairs(GPTCACHE)
    ga, gb = pair_vectors(g)
    gcos = (ga * gb).sum(axis=1)
    sweep_table("GPTCache paraphrases (999 pairs, all duplicates)", g, gcos)
    print("\n#### GPTCache's own benchmark: 999 origins cached, 999 similar asked (best accepted candidate)\n")
    print("| threshold | raw right / wrong | rules right / wrong | rules + contrast right / wrong |"
          " rules + contrast hit rate | precision |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for t in (0.85, 0.90, 0.93, 0.95, 0.965):
        r = retrieval(g, ga, gb, SemanticPolicy(threshold=t, verify=False), accepts)
        o = retrieval(g, ga, gb, SemanticPolicy(threshold=t, verify=True), rules_only)
        v = retrieval(g, ga, gb, SemanticPolicy(threshold=t, verify=True), accepts)
        print(
            f"| {t:.3f} | {r.right} / {r.wrong} | {o.right} / {o.wrong} | {v.right} / {v.wrong} | "
            f"{pct(v.hit_rate)} | {pct(v.precision)} |"
        )
    dup = len(g.a) - len(set(g.a))
    print(f"\n(origins that occur more than once in the 999: {dup}; retrieving an identical text counts wrong)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
