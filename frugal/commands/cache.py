"""`frugal cache eval --pairs FILE.json [--json] [--preset ...] [--threshold X]`.

Embeds both sides of every pair with the production embedder and prints precision, recall and
hit rate at the configured operating point, then a sweep over thresholds: raw cosine next to
cosine + verification.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from frugal.exit_codes import EXIT_OK, EXIT_USAGE

SWEEP = (0.80, 0.85, 0.88, 0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.965, 0.97, 0.98)


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    ev = sub.add_parser("eval", help="measure the semantic cache on labelled pairs")
    ev.add_argument("--pairs", type=Path, required=True, help="JSON list: text_a/text_b/label or origin/similar")
    ev.add_argument("--preset", choices=("conservative", "balanced", "raw"), default="conservative")
    ev.add_argument("--threshold", type=float, default=None, help="override the preset's cosine threshold")
    ev.add_argument("--json", action="store_true", help="print one JSON document")
    ev.add_argument("--retrieval", action="store_true", help="also run GPTCache's benchmark (cache all a, ask every b)")


def run(args: argparse.Namespace) -> int:
    """Measure the response cache's semantic matching on pair files."""
    from runtime.cache.embedder import OnnxEmbedder
    from runtime.cache.evaluate import PairsFormatError, embed_texts, load_pairs, retrieval, score_pairs, sweep
    from runtime.cache.scorer import accepts
    from runtime.cache.settings import PRESETS

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        print(f"frugal cache eval: --threshold {args.threshold} is not a cosine in [0, 1]")
        return EXIT_USAGE
    try:
        pairs = load_pairs(args.pairs)
    except PairsFormatError as exc:
        print(f"frugal cache eval: {exc}")
        return EXIT_USAGE
    policy = PRESETS[args.preset]
    if args.threshold is not None:
        policy = policy.model_copy(update={"threshold": args.threshold})
    embedder = OnnxEmbedder(intra_op_threads=2)
    va, vb = embed_texts(embedder.embed, pairs.a), embed_texts(embedder.embed, pairs.b)
    cos = (va * vb).sum(axis=1)
    at = score_pairs(pairs, cos, policy, accepts)
    raw = policy.model_copy(update={"verify": False, "min_probability": None})
    rows = [
        {"threshold": t, "raw": r.to_json(), "verified": v.to_json()}
        for t, r, v in zip(
            SWEEP, sweep(pairs, cos, raw, accepts, SWEEP), sweep(pairs, cos, policy, accepts, SWEEP), strict=True
        )
    ]
    report = {
        "pairs_file": str(args.pairs), "format": pairs.fmt, "pairs": len(pairs.a),
        "duplicates": int(pairs.labels.sum()), "preset": args.preset, "policy": policy.model_dump(),
        "at_threshold": at.to_json(), "sweep": rows,
    }  # fmt: skip
    if args.retrieval:
        report["retrieval"] = retrieval(pairs, va, vb, policy, accepts).to_json()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return EXIT_OK


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    at = report["at_threshold"]
    console.print(
        f"[bold]{report['pairs_file']}[/]: {report['pairs']} pairs ({report['format']}, "
        f"{report['duplicates']} duplicates), preset {report['preset']} {report['policy']}"
    )
    console.print(
        f"at threshold {at['threshold']}: precision {_pct(at['precision'])}, recall {_pct(at['recall'])}, "
        f"hit rate {_pct(at['hit_rate'])} ({at['hits']} hits, {at['true_hits']} right)"
    )
    table = Table(title="threshold sweep: raw cosine vs cosine + verification")
    for col in ("threshold", "raw precision", "raw recall", "raw hit rate", "precision", "recall", "hit rate"):
        table.add_column(col, justify="right")
    for row in report["sweep"]:
        r, v = row["raw"], row["verified"]
        table.add_row(
            f"{row['threshold']:.3f}", _pct(r["precision"]), _pct(r["recall"]), _pct(r["hit_rate"]),
            _pct(v["precision"]), _pct(v["recall"]), _pct(v["hit_rate"]),
        )  # fmt: skip
    console.print(table)
    if "retrieval" in report:
        r = report["retrieval"]
        console.print(
            f"retrieval (GPTCache's benchmark): {r['right']} right, {r['wrong']} wrong of {r['queries']} queries: "
            f"hit rate {_pct(r['hit_rate'])}, precision {_pct(r['precision'])}"
        )
