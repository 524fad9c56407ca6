"""`--format json`: the versioned document `frugal.cost/v1` (docs/cost-preview.md describes every field).

Money and quantities are decimal strings (exact, no binary floats); an unknown amount is null.
Additive changes keep the version; any other change bumps it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from infra.cost.model import SCHEMA, Range, Report, cents


def dec(value: Decimal | None, places: str = "0.01") -> str | None:
    return None if value is None else str(value.quantize(Decimal(places)))


def rng(r: Range, places: str = "0.01") -> dict[str, str | None]:
    return {"low": dec(r.low, places), "expected": dec(r.expected, places), "high": dec(r.high, places)}


def report_dict(report: Report) -> dict[str, Any]:
    total = report.total
    budget = report.budget_monthly_usd
    return {
        "schema": SCHEMA,
        "project": report.project,
        "stack": report.stack,
        "plan_source": report.plan_source,
        "region": report.region,
        "currency": report.currency,
        "hours_per_month": str(report.hours_per_month),
        "priced_on": report.priced_on,
        "catalog": report.catalog,
        "total_monthly_cost": rng(total),
        "complete": report.complete,
        "budget": None
        if budget is None
        else {
            "monthly_limit_usd": dec(budget),
            "expected_pct_of_budget": None
            if total.expected is None
            else str((total.expected * 100 / budget).quantize(Decimal("0.1"))),
        },
        "resources": [
            {
                "urn": r.urn,
                "name": r.name,
                "type": r.type,
                "status": r.status,
                "note": r.note,
                "monthly_cost": rng(r.monthly),
                "components": [
                    {
                        "name": c.name,
                        "category": c.category,
                        "monthly_quantity": dec(c.monthly_quantity, "0.0001"),
                        "unit": c.unit,
                        "unit_price": rng(c.unit_price, "0.0000000001"),
                        "monthly_cost": rng(c.monthly),
                        "source": c.source,
                        "as_of": c.as_of,
                        "note": c.note,
                    }
                    for c in r.components
                ],
            }
            for r in report.resources
        ],
        "pools": [
            {
                **p.model_dump(mode="json", exclude={"on_demand_hours_per_month", "spot_hours_per_month"}),
                "on_demand_hours_per_month": dec(p.on_demand_hours_per_month),
                "spot_hours_per_month": dec(p.spot_hours_per_month),
            }
            for p in report.pools
        ],
        "savings_waterfall": [
            {
                "label": s.label,
                "kind": s.kind,
                "monthly_usd": dec(cents(s.monthly)),
                "pct_of_baseline": None if s.pct_of_baseline is None else str(s.pct_of_baseline),
                "pct_of_compute_baseline": None
                if s.pct_of_compute_baseline is None
                else str(s.pct_of_compute_baseline),
            }
            for s in report.waterfall
        ],
        "not_priced": [r.name for r in report.unpriced],
        "assumptions": report.assumptions,
        "warnings": report.warnings,
    }


def to_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
