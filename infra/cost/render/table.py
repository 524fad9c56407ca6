"""`--format table`: an Infracost-style breakdown per resource and cost component, in the terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from infra.cost.model import Report, ResourceCost
from infra.cost.render import money, quantity, span, unit_price

WIDTH = 150


def by_cost(report: Report) -> list[ResourceCost]:
    """Unknown first (they need attention), then by expected monthly cost, highest first."""
    return sorted(report.resources, key=lambda r: (r.monthly.known, -(r.monthly.expected or 0), r.name, r.urn))


def _free_summary(report: Report) -> str:
    free = [r for r in report.resources if r.status == "free"]
    kinds = sorted({r.type.split(":")[-1] for r in free})
    return f"{len(free)} resources billed nothing on their own: {', '.join(kinds)}" if free else ""


def print_report(report: Report, console: Console) -> None:
    total = report.total
    table = Table(
        title=f"{report.project}/{report.stack}: monthly cost preview "
        f"({report.plan_source} plan, priced {report.priced_on})",
        title_justify="left",
    )
    table.add_column("resource / component", max_width=62)
    table.add_column("quantity", justify="right")
    table.add_column("unit")
    table.add_column("unit price (low | exp | high)", justify="right")
    table.add_column("low", justify="right")
    table.add_column("expected", justify="right")
    table.add_column("high", justify="right")
    for r in by_cost(report):
        if r.status == "free":
            continue
        m = r.monthly.rounded()
        table.add_row(
            f"[bold]{r.name}[/bold] [dim]{r.type.split(':')[-1]}[/dim]",
            "",
            "",
            "",
            money(m.low),
            money(m.expected),
            money(m.high),
        )
        if r.status == "not-priced":
            table.add_row(f"  └─ {r.note}", "", "", "", "-", "-", "-")
        for i, c in enumerate(r.components):
            branch = "└─" if i == len(r.components) - 1 else "├─"
            cm = c.monthly.rounded()
            table.add_row(
                f"  {branch} {c.name}",
                quantity(c.monthly_quantity),
                c.unit,
                unit_price(c.unit_price),
                money(cm.low),
                money(cm.expected),
                money(cm.high),
            )
    table.add_section()
    label = "OVERALL TOTAL" + ("" if report.complete else " (incomplete: see not priced)")
    table.add_row(
        f"[bold]{label}[/bold]",
        "",
        "",
        "",
        money(total.low),
        f"[bold]{money(total.expected)}[/bold]",
        money(total.high),
    )
    console.print(table)
    if free := _free_summary(report):
        console.print(free)
    if report.budget_monthly_usd is not None and total.expected is not None:
        pct = total.expected * 100 / report.budget_monthly_usd
        console.print(
            f"Budget: {money(report.budget_monthly_usd)}/month; expected {money(total.expected)} = {pct:.1f}% of it "
            f"(range {span(total)})"
        )
    if report.waterfall:
        wf = Table(title="Savings against the baseline (expected prices)", title_justify="left")
        wf.add_column("step")
        wf.add_column("monthly", justify="right")
        wf.add_column("% of baseline", justify="right")
        wf.add_column("% of GPU baseline", justify="right")
        for s in report.waterfall:
            amount = money(s.monthly) if s.kind != "saving" else ("-" if s.monthly is None else money(s.monthly))
            wf.add_row(
                s.label,
                amount,
                "" if s.pct_of_baseline is None else f"{s.pct_of_baseline}%",
                "" if s.pct_of_compute_baseline is None else f"{s.pct_of_compute_baseline}%",
            )
        console.print(wf)
    for p in report.pools:
        console.print(
            f"Pool {p.name}: {len(p.overrides)} types, peak {p.peak_capacity}, "
            f"{p.schedule_actions} scheduled action starts a week; {quantity(p.on_demand_hours_per_month)} on-demand "
            f"+ {quantity(p.spot_hours_per_month)} spot instance-hours/month"
        )
    dates = "; ".join(f"{k} {v['as_of']}" for k, v in report.catalog.items())
    console.print(f"Prices as of: {dates} (sources in --format json)")
    if report.unpriced:
        console.print(
            "[yellow]Not priced (cost unknown, not counted):[/yellow] " + ", ".join(r.name for r in report.unpriced)
        )
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    console.print("Assumptions:")
    for a in report.assumptions:
        console.print(f"  - {a}")


def to_text(report: Report, width: int = WIDTH) -> str:
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=width, color_system=None, force_terminal=False))
    return buffer.getvalue()
