"""The document the alert forwarder reads (FRUGAL_ALERT_CONTEXT): the stack's own figures and guard settings.

Pure: no Pulumi imports. `cost_summary` turns a cost-preview report into the small JSON the
program passes to BudgetAlarms (`cost_summary` input); `alert_context` adds the stack's identity
and the guard settings. The schema is documented in infra/lambdas/alert_forwarder/context.py,
which parses it in Lambda.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from infra.config import PROJECT, BudgetConfig

if TYPE_CHECKING:
    from infra.cost.model import Report

TOP_ITEMS = 5


def cost_summary(report: Report, top: int = TOP_ITEMS) -> str:
    """{"expected_monthly_cost_usd": "...", "top_items": [{"name", "monthly_usd"}]} from a cost report."""
    priced = [(r.name, r.monthly.expected) for r in report.resources if r.monthly.expected is not None]
    biggest = sorted((p for p in priced if p[1] and p[1] > 0), key=lambda p: (-p[1], p[0]))[:top]
    expected = report.total.expected
    return json.dumps(
        {
            "expected_monthly_cost_usd": None if expected is None else str(expected.quantize(Decimal("0.01"))),
            "top_items": [{"name": n, "monthly_usd": str(Decimal(v).quantize(Decimal("0.01")))} for n, v in biggest],
        }
    )


def alert_context(
    *,
    stack: str,
    environment: str,
    region: str,
    budget: BudgetConfig,
    cost_summary_json: str | None,
    gpu_asg_names: Sequence[str],
    stack_tag: tuple[str, str],
) -> str:
    cost: dict[str, Any] = json.loads(cost_summary_json) if cost_summary_json else {}
    return json.dumps(
        {
            "project": PROJECT,
            "stack": stack,
            "environment": environment,
            "region": region,
            "budget_limit_usd": str(budget.monthly_limit_usd),
            "cost": {
                "expected_monthly_cost_usd": cost.get("expected_monthly_cost_usd"),
                "top_items": cost.get("top_items", []),
            },
            "guard": {
                "enabled": budget.guard.enabled,
                "max_size": budget.guard.gpu_max_size,
                "region": region,
                "asg_names": sorted(gpu_asg_names),
                "tag_key": stack_tag[0],
                "tag_value": stack_tag[1],
            },
        },
        sort_keys=True,
    )
