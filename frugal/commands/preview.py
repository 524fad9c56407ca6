"""`frugal preview` and `frugal diff`: the cost preview commands.

Exit codes (docs/cost-preview.md): 0 ok; 2 bad usage, unknown stack, invalid config, unreadable
plan or usage file; 3 the budget gate failed (`--fail-above`, `--fail-above-budget`): the expected
monthly cost is above the limit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from frugal.exit_codes import EXIT_OK, EXIT_OVER_BUDGET, EXIT_USAGE

if TYPE_CHECKING:  # imported lazily at run time so that `frugal --help` stays fast
    from infra.cost.model import Report
    from infra.plan import Plan


class InputError(ValueError):
    """Input the preview cannot use (the message says what and how to fix it)."""


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD (e.g. 2500 or 2500.50)") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the limit must be a positive amount in USD")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--usage", type=Path, help="usage file (YAML) for NAT GB, log ingestion, ... (docs/cost-preview.md)")
    p.add_argument("--on", type=_day, help="price as of this date (default: today, UTC); EKS support depends on it")
    p.add_argument("--root", type=Path, default=None, help="project directory for --stack (default: this repository)")


def configure(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--stack", help="run the program for this stack offline and price its plan")
    source.add_argument("--preview-json", type=Path, help="price `pulumi preview --json --show-sames` output")
    source.add_argument("--stack-export", type=Path, help="price a `pulumi stack export` file")
    source.add_argument("--plan-json", type=Path, help="price a frugal.plan/v1 file (`frugal plan --json`)")
    source.add_argument("--tutorial", action="store_true", help="recompute the seed tutorial's Parts 4-5 examples")
    p.add_argument("--format", choices=("table", "json", "markdown", "html"), default="table")
    p.add_argument("--out", type=Path, help="write the report to this file instead of stdout")
    p.add_argument("--fail-above", type=_decimal, metavar="USD", help=f"exit {EXIT_OVER_BUDGET} if expected > USD")
    p.add_argument(
        "--fail-above-budget",
        action="store_true",
        help=f"exit {EXIT_OVER_BUDGET} if expected > the plan's monthly aws:budgets/budget:Budget limitAmount "
        "(the smallest, if there are several)",
    )
    _common(p)


def load_plan(
    ref: str | None = None,
    *,
    stack: str | None = None,
    root: Path | None = None,
    preview_json: Path | None = None,
    stack_export: Path | None = None,
    plan_json: Path | None = None,
    before: bool = False,
) -> Plan:
    """A plan from one of the inputs; `ref` is a stack name or a file whose kind is detected."""
    from infra.readers import CliJsonError, read_preview_json, read_stack_export

    if ref is not None:
        path = Path(ref)
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}: not JSON ({exc}); fix: pass a stack name or a Pulumi/frugal JSON file"
                ) from exc
            if isinstance(data, dict) and "steps" in data:
                preview_json = path
            elif isinstance(data, dict) and "deployment" in data:
                stack_export = path
            elif isinstance(data, dict) and str(data.get("schema", "")).startswith("frugal.plan/"):
                plan_json = path
            else:
                raise InputError(
                    f"{path}: neither `pulumi preview --json`, `pulumi stack export` nor `frugal plan --json` output"
                )
        else:
            stack = ref
    try:
        if preview_json is not None:
            return read_preview_json(preview_json, before=before)
        if stack_export is not None:
            return read_stack_export(stack_export)
        if plan_json is not None:
            from infra.plan import Plan

            return Plan.from_json_dict(json.loads(plan_json.read_text()))
    except CliJsonError as exc:
        raise InputError(str(exc)) from exc
    except ValueError as exc:
        raise InputError(f"{plan_json}: {exc}") from exc
    if stack is None:
        raise InputError("no input: pass --stack NAME, --preview-json FILE, --stack-export FILE or --plan-json FILE")
    from infra.offline import REPO_ROOT, run_offline

    return run_offline(stack, root or REPO_ROOT)


def _report(plan: Plan, args: argparse.Namespace) -> Report:
    from infra.cost.estimate import estimate_plan
    from infra.cost.usage import load_usage

    return estimate_plan(plan, usage=load_usage(args.usage), on=args.on)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)


def budget_gate(expected: Decimal | None, limit: Decimal, what: str) -> tuple[int, str]:
    """Exit code and message of one gate; the comparison is the cost model's `budget_check`."""
    from infra.cost.budget import budget_check

    verdict = budget_check(expected, limit)
    if verdict == "unknown" or expected is None:
        return EXIT_USAGE, f"the expected monthly cost is unknown; cannot compare it with {what} ${limit:,.2f}"
    if verdict == "over":
        return EXIT_OVER_BUDGET, (
            f"over budget: expected monthly cost ${expected:,.2f} is above {what} ${limit:,.2f} "
            f"by ${expected - limit:,.2f}"
        )
    return EXIT_OK, f"within budget: expected monthly cost ${expected:,.2f} <= {what} ${limit:,.2f}"


def _run_guarded(name: str, run: Callable[[], int]) -> int:
    from infra.cost.plan_pools import PlanShapeError
    from infra.cost.schedules import ScheduleError
    from infra.cost.usage import UsageError

    try:
        return run()
    except (InputError, UsageError, ScheduleError, PlanShapeError) as exc:
        print(f"frugal {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    """Estimate the monthly cost of a stack, a pulumi preview or a stack export (spot and schedule aware)."""

    def run() -> int:
        if args.tutorial:
            from infra.cost.tutorial import tutorial_text

            _emit(tutorial_text(), args.out)
            return EXIT_OK
        plan = load_plan(
            stack=args.stack,
            root=args.root,
            preview_json=args.preview_json,
            stack_export=args.stack_export,
            plan_json=args.plan_json,
        )
        report = _report(plan, args)
        if args.format == "table" and args.out is None:
            from rich.console import Console

            from infra.cost.render.table import WIDTH, print_report

            print_report(report, Console(width=None if Console().is_terminal else WIDTH))
        else:
            from infra.cost.render import render

            _emit(render(report, args.format), args.out)
        status = EXIT_OK
        gates: list[tuple[Decimal, str]] = []
        if args.fail_above is not None:
            gates.append((args.fail_above, "--fail-above"))
        if args.fail_above_budget:
            if report.budget_monthly_usd is None:
                raise InputError(
                    "--fail-above-budget: the plan has no monthly USD aws:budgets/budget:Budget; "
                    "fix: configure frugal-llm:budget or use --fail-above USD"
                )
            gates.append((report.budget_monthly_usd, "the stack's budget"))
        for limit, what in gates:
            code, message = budget_gate(report.total.expected, limit, what)
            if not report.complete:
                message += f" (incomplete: {len(report.unpriced)} resource(s) not priced are not in the total)"
            print(f"frugal preview: {message}", file=sys.stderr)
            status = max(status, code)
        return status

    return _run_guarded("preview", run)


def configure_diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("before", help="stack name, or a preview/export/plan JSON file (a preview alone: its before/after)")
    p.add_argument("after", nargs="?", help="stack name or JSON file; omitted: the 'after' of the preview file BEFORE")
    from infra.cost.diff import DIFF_FORMATS

    p.add_argument("--format", choices=DIFF_FORMATS, default="table")
    p.add_argument("--out", type=Path)
    _common(p)


def run_diff(args: argparse.Namespace) -> int:
    """Monthly cost change between two stacks, or a preview against a stack export (+ added, ~ changed, - removed)."""

    def run() -> int:
        from infra.cost import diff

        if args.after is None:
            path = Path(args.before)
            if not path.is_file():
                raise InputError(
                    f"{path}: with one argument, pass a `pulumi preview --json` file (it holds both sides)"
                )
            past_plan = load_plan(preview_json=path, before=True)
            now_plan = load_plan(preview_json=path)
        else:
            past_plan = load_plan(args.before, root=args.root)
            now_plan = load_plan(args.after, root=args.root)
        past, now = _report(past_plan, args), _report(now_plan, args)
        text = diff.render_diff(past, now, args.format)
        _emit(text, args.out)
        return EXIT_OK

    return _run_guarded("diff", run)
