"""`frugal advise`: the cheapest instance type for a model at a quality bound and a concurrency.

    frugal advise --family llama-3-8b --ctx 4096 --parallel 8 --max-kld 0.05
    frugal advise --model path/to/model.gguf --ctx 2048 --parallel 4 --json
    frugal advise --tutorial

Exit codes: 0 ok; 2 bad input (unknown family or quantization, unreadable GGUF, conflicting bounds).
The arithmetic lives in infra.advisor; this module only parses, calls and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _kld(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 0.05)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; KL divergence is 0 for identical outputs")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Right-size a model: memory per llama-server, which GPU instance types hold it, their tokens/s "
        "(scaled from llama.cpp measured on an H200) and $ per million output tokens, ranked."
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="a GGUF file: its own metadata gives the shape and size")
    what.add_argument("--family", help="a known model family without a file, e.g. llama-3-8b, llama-2-13b")
    what.add_argument(
        "--tutorial", action="store_true", help="the seed tutorial's Part 2 (13B at F16 vs Q4_K_M), recomputed"
    )
    parser.add_argument(
        "--quant",
        action="append",
        help="quantization type(s) to consider, e.g. Q4_K_M (repeatable; default: the file's own type, or "
        "every published type within --max-kld for a family)",
    )
    parser.add_argument("--ctx", type=_positive, default=4096, help="context tokens per request (slot); default 4096")
    parser.add_argument("--parallel", type=_positive, default=1, help="parallel slots per server; default 1")
    parser.add_argument("--kv-type", default="f16", help="KV cache type: f16 (default), q8_0, q4_0")
    parser.add_argument("--max-kld", type=_kld, help="quality bound: highest published KL divergence vs F16")
    parser.add_argument("--top", type=_positive, default=15, help="rows of the ranked table (JSON has all)")
    parser.add_argument("--json", action="store_true", help="print the frugal.advice/v1 JSON document")


def run(args: argparse.Namespace) -> int:
    from infra.advisor.advice import advice_dict, advise
    from infra.advisor.families import family
    from infra.advisor.gguf_meta import read_gguf
    from infra.advisor.render import render_table

    try:
        if args.tutorial:
            from infra.advisor.tutorial import part2

            result = part2(ctx=args.ctx, parallel=args.parallel)
            print(json.dumps(result.to_dict(), indent=2) if args.json else "\n".join(result.lines))
            return EXIT_OK
        facts = read_gguf(args.model) if args.model is not None else family(args.family)
        quants = [q for item in args.quant or [] for q in item.split(",") if q.strip()] or None
        advice = advise(
            facts,
            ctx_per_slot=args.ctx,
            parallel=args.parallel,
            quants=quants,
            kv_type=args.kv_type,
            max_kld=args.max_kld,
        )
    except ValueError as exc:
        print(f"frugal advise: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(advice_dict(advice), indent=2))
    else:
        print(render_table(advice, top=args.top), end="")
    return EXIT_OK
