"""`frugal plan --stack NAME [--json]`: run the Pulumi program offline and print what it would create."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from frugal.exit_codes import EXIT_OK


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--json", action="store_true", help="print the frugal.plan/v1 JSON document (infra/plan.py)")
    p.add_argument("--root", type=Path, default=None, help="project directory (default: this repository)")


def run(args: argparse.Namespace) -> int:
    """Run the program for a stack offline and print every resource it would create."""
    from infra.offline import REPO_ROOT, run_offline

    plan = run_offline(args.stack, args.root or REPO_ROOT)
    if args.json:
        print(json.dumps(plan.to_json_dict(), indent=2, sort_keys=False))
    else:
        from infra.render_plan import plan_table  # rich costs ~0.1 s to import; JSON users skip it

        plan_table(plan)
    return EXIT_OK
