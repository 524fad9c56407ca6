"""`--format markdown`: a pull-request comment (GitHub-flavoured Markdown)."""

from __future__ import annotations

from infra.cost.model import Report
from infra.cost.render import money, quantity, span
from infra.cost.render.table import by_cost


def to_markdown(report: Report) -> str:
    total = report.total
    lines = [
        f"### frugal cost preview: `{report.project}/{report.stack}`",
        "",
        f"**Expected {money(total.expected)}/month** (range {span(total)}), priced {report.priced_on} "
        f"from the {report.plan_source} plan."
        + ("" if report.complete else " **Incomplete:** some costs are unknown."),
    ]
    if report.budget_monthly_usd is not None and total.expected is not None:
        share = total.expected * 100 / report.budget_monthly_usd
        lines.append(f"Budget {money(report.budget_monthly_usd)}/month: expected is {share:.1f}% of it.")
    lines += ["", "| resource | component | quantity | low | expected | high |", "|---|---|---:|---:|---:|---:|"]
    for r in by_cost(report):
        if r.status == "free":
            continue
        m = r.monthly.rounded()
        lines.append(
            f"| **{r.name}** `{r.type.split(':')[-1]}` | | "
            f"| {money(m.low)} | **{money(m.expected)}** | {money(m.high)} |"
        )
        if r.status == "not-priced":
            lines.append(f"| | {r.note} | | - | - | - |")
        for c in r.components:
            cm = c.monthly.rounded()
            lines.append(
                f"| | {c.name} | {quantity(c.monthly_quantity)} {c.unit} "
                f"| {money(cm.low)} | {money(cm.expected)} | {money(cm.high)} |"
            )
    lines.append(f"| **Total** | | | {money(total.low)} | **{money(total.expected)}** | {money(total.high)} |")
    free = [r for r in report.resources if r.status == "free"]
    if free:
        lines += ["", f"{len(free)} resources are billed nothing on their own (IAM, VPC plumbing, schedules, ...)."]
    if report.waterfall:
        lines += [
            "",
            "#### Savings against all on-demand, 24x7 at peak",
            "",
            "| step | monthly | % of baseline | % of GPU baseline |",
            "|---|---:|---:|---:|",
        ]
        for step in report.waterfall:
            pct = "" if step.pct_of_baseline is None else f"{step.pct_of_baseline}%"
            gpu = "" if step.pct_of_compute_baseline is None else f"{step.pct_of_compute_baseline}%"
            lines.append(f"| {step.label} | {money(step.monthly)} | {pct} | {gpu} |")
    if report.unpriced:
        lines += [
            "",
            "**Not priced (unknown, not in the total):** " + ", ".join(f"`{r.name}`" for r in report.unpriced),
        ]
    if report.warnings:
        lines += ["", "**Warnings**", ""] + [f"- {w}" for w in report.warnings]
    dates = "; ".join(f"{k} {v['as_of']}" for k, v in report.catalog.items())
    lines += ["", "<details><summary>Assumptions and price sources</summary>", ""]
    lines += [f"- {a}" for a in report.assumptions]
    lines += [f"- prices as of: {dates}", "", "</details>", ""]
    return "\n".join(lines)
