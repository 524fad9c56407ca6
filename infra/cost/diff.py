"""`frugal diff`: the monthly cost change between two reports, Infracost-style.

Resources are matched by their URN without the stack and project (type chain + name), so that two
stacks of the same program (dev -> prod) and a preview against a `pulumi stack export` line up.
Legend: `+ added`, `~ changed`, `- removed`; the closing line is `Amount: +$743.00 ($0.00 -> $743.00)`.
Amounts are expected monthly costs; the diff of the totals also carries its low/high.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from infra.cost.model import Range, Report, ResourceCost
from infra.cost.render import money, signed
from infra.cost.render.json_out import dec, rng

SCHEMA = "frugal.cost-diff/v1"
ZERO = Decimal(0)


def resource_key(urn: str) -> str:
    parts = urn.split("::", 2)
    return parts[2] if len(parts) == 3 else urn


@dataclass(frozen=True)
class ComponentChange:
    name: str
    past: Decimal | None
    now: Decimal | None


@dataclass(frozen=True)
class Change:
    op: Literal["+", "~", "-"]
    name: str
    type: str
    past: Range
    now: Range
    components: list[ComponentChange]

    @property
    def delta(self) -> Decimal | None:
        if self.op == "+":
            return self.now.expected
        if self.op == "-":
            return None if self.past.expected is None else -self.past.expected
        if self.now.expected is None or self.past.expected is None:
            return None
        return self.now.expected - self.past.expected


def _expected(r: ResourceCost | None) -> Range:
    return Range.fixed(ZERO) if r is None else r.monthly.rounded()


def _components(past: ResourceCost | None, now: ResourceCost | None) -> list[ComponentChange]:
    before = {c.name: c.monthly.rounded().expected for c in (past.components if past else [])}
    after = {c.name: c.monthly.rounded().expected for c in (now.components if now else [])}
    out = []
    for name in list(dict.fromkeys([*before, *after])):
        if before.get(name, ZERO) != after.get(name, ZERO):
            out.append(ComponentChange(name, before.get(name), after.get(name)))
    return out


def diff_reports(past: Report, now: Report) -> list[Change]:
    before = {resource_key(r.urn): r for r in past.resources}
    after = {resource_key(r.urn): r for r in now.resources}
    changes: list[Change] = []
    for key in list(dict.fromkeys([*before, *after])):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None:
            if old.status == new.status and _expected(old) == _expected(new) and not _components(old, new):
                continue
            op: Literal["+", "~", "-"] = "~"
        else:
            op = "+" if old is None else "-"
        either = new or old
        if either is None:  # a key comes from one side at least
            continue
        if op != "~" and either.status == "free":
            continue
        changes.append(
            Change(
                op,
                either.name,
                either.type,
                _expected(old) if old else Range.fixed(ZERO),
                _expected(new) if new else Range.fixed(ZERO),
                _components(old, new),
            )
        )
    # Biggest change first, as a reviewer reads them; unknown deltas first of all (they need a look).
    return sorted(changes, key=lambda c: (c.delta is not None, -abs(c.delta or ZERO), c.name))


def total_delta(past: Report, now: Report) -> Range:
    a, b = past.total, now.total
    if not a.known or not b.known:
        return Range.unknown()
    (alo, aex, ahi), (blo, bex, bhi) = a.values(), b.values()
    return Range(low=blo - alo, expected=bex - aex, high=bhi - ahi)


def _label(report: Report) -> str:
    return f"{report.project}/{report.stack} ({report.plan_source})"


def to_text(past: Report, now: Report) -> str:
    lines = [f"Monthly cost diff: {_label(past)} -> {_label(now)}", ""]
    for c in diff_reports(past, now):
        lines.append(f"{c.op} {c.name}  {c.type}")
        lines.append(f"  {signed(c.delta)} ({money(c.past.expected)} -> {money(c.now.expected)})")
        for comp in c.components:
            op = "+" if comp.past is None else "-" if comp.now is None else "~"
            d = None if comp.past is None and comp.now is None else (comp.now or ZERO) - (comp.past or ZERO)
            lines.append(f"    {op} {comp.name}  {signed(d)} ({money(comp.past or ZERO)} -> {money(comp.now or ZERO)})")
        lines.append("")
    total = total_delta(past, now)
    lines += [
        "Legend: + added, ~ changed, - removed",
        f"Amount: {signed(total.expected)} ({money(past.total.expected)} -> {money(now.total.expected)})"
        + (f"  [low {signed(total.low)}, high {signed(total.high)}]" if total.known else ""),
    ]
    return "\n".join(lines) + "\n"


def to_markdown(past: Report, now: Report) -> str:
    d = total_delta(past, now)
    lines = [
        f"### frugal cost diff: `{past.stack}` -> `{now.stack}`",
        "",
        f"**{signed(d.expected)}/month** ({money(past.total.expected)} -> {money(now.total.expected)})",
        "",
        "| | resource | before | after | change |",
        "|---|---|---:|---:|---:|",
    ]
    for c in diff_reports(past, now):
        lines.append(
            f"| {c.op} | `{c.name}` | {money(c.past.expected)} | {money(c.now.expected)} | {signed(c.delta)} |"
        )
    lines += ["", "Legend: + added, ~ changed, - removed", ""]
    return "\n".join(lines)


def to_json(past: Report, now: Report) -> str:
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "past": {"project": past.project, "stack": past.stack, "plan_source": past.plan_source},
        "now": {"project": now.project, "stack": now.stack, "plan_source": now.plan_source},
        "past_total_monthly_cost": rng(past.total),
        "total_monthly_cost": rng(now.total),
        "diff_total_monthly_cost": rng(total_delta(past, now)),
        "changes": [
            {
                "op": c.op,
                "name": c.name,
                "type": c.type,
                "past_monthly_cost": dec(c.past.expected),
                "monthly_cost": dec(c.now.expected),
                "diff_monthly_cost": dec(c.delta),
                "components": [{"name": x.name, "past": dec(x.past), "now": dec(x.now)} for x in c.components],
            }
            for c in diff_reports(past, now)
        ],
    }
    return json.dumps(data, indent=2) + "\n"


DIFF_FORMATS = ("table", "json", "markdown")


def render_diff(past: Report, now: Report, fmt: str) -> str:
    """The diff in one of DIFF_FORMATS; the counterpart of `infra.cost.render.render(report, fmt)`."""
    renderers = {"table": to_text, "json": to_json, "markdown": to_markdown}
    if fmt not in renderers:
        raise ValueError(f"no diff format {fmt!r}; formats: {', '.join(DIFF_FORMATS)}")
    return renderers[fmt](past, now)
