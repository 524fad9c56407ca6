"""`frugal policy`: the policy pack over a stack's offline plan, a `pulumi preview --json` file or a
`pulumi stack export` file.

Exit codes: 0 no mandatory violation (advisory ones are printed); 4 at least one mandatory
violation; 2 bad usage, unknown stack, invalid stack config, unreadable preview/export file or
invalid pack config (nothing was evaluated).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding

from frugal.exit_codes import EXIT_OK, EXIT_POLICY, EXIT_USAGE

if TYPE_CHECKING:
    from policies.evaluate import Report

SEVERITY_ORDER = ("critical", "high", "medium", "low", "")


def configure(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="evaluate the offline plan of this stack (reads Pulumi.<stack>.yaml)")
    source.add_argument("--preview-json", type=Path, help="evaluate `pulumi preview --json --show-sames` output")
    source.add_argument("--stack-export", type=Path, help="evaluate the deployed state from `pulumi stack export`")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="pack config, as for `pulumi preview --policy-pack-config` "
        "(default: policies/config.<environment>.json, the environment read from the resources' tags)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON (schema frugal.policy-report/v1)")
    p.add_argument("--root", type=Path, default=None, help="project directory (default: this repository)")


def run(args: argparse.Namespace) -> int:
    """Run the cost and security policy pack over a stack's plan; exit 4 on a mandatory violation."""
    from infra.readers import CliJsonError, read_preview_json, read_stack_export
    from policies.evaluate import PackConfigError, default_config_path, evaluate, load_pack_config

    try:
        if args.stack:
            from infra.offline import REPO_ROOT, run_offline

            plan = run_offline(args.stack, args.root or REPO_ROOT)
        elif args.preview_json:
            plan = read_preview_json(args.preview_json)
        else:
            plan = read_stack_export(args.stack_export)
        config_path = args.config or default_config_path(plan)
        pack_config = load_pack_config(config_path) if config_path else {}
    except (CliJsonError, PackConfigError) as exc:
        print(f"frugal policy: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = evaluate(plan, pack_config, config_path=str(config_path) if config_path else None)
    if args.json:
        print(json.dumps(report.to_json_dict(), indent=2))
    else:
        render(report, Console())
    return EXIT_POLICY if report.mandatory else EXIT_OK


def render(report: Report, console: Console) -> None:
    """Violations grouped by enforcement level (mandatory first), most severe first, then a summary line."""
    where = f"stack '{report.stack}' ({report.source} plan, {report.resources} resources)"
    config = report.config_path or "none (every rule at its default level, mandatory)"
    console.print(f"[bold]Policy pack {report.pack}[/bold] over {where}; pack config: {config}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for level, style in (("mandatory", "red"), ("advisory", "yellow")):
        found = sorted(
            (d for d in report.diagnostics if d.enforcement == level), key=lambda d: SEVERITY_ORDER.index(d.severity)
        )
        if not found:
            continue
        console.print(f"\n[bold {style}]{level.upper()} ({len(found)})[/bold {style}]")
        for d in found:
            where = f"{d.resource_name} ({d.resource_type})" if d.resource_name else "(stack)"
            label = escape(f"[{d.severity}] {where}")
            console.print(f"[{style}]x[/{style}] [bold]{d.policy}[/bold] {label}")
            console.print(Padding(escape(d.detail.removeprefix(f"[{d.policy}] ")), (0, 0, 0, 4)))
    skipped = ", ".join(sorted({f"{n.policy} ({n.reason})" for n in report.not_applicable if n.urn is None}))
    if skipped:
        console.print(f"[dim]not applicable: {skipped}[/dim]")
    console.print()
    verdict = "[red]FAIL[/red]" if report.mandatory else "[green]PASS[/green]"
    console.print(
        f"{verdict}: {len(report.mandatory)} mandatory, {len(report.advisory)} advisory violation(s); "
        f"{report.policies} policies over {report.resources} resources"
    )
