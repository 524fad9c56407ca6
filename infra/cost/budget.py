"""The budget gate: which budget counts and whether an expected monthly cost is within it.

One rule for `frugal preview --fail-above-budget`, the report's `budget_monthly_usd` and the policy
rule `expected-cost-within-budget`:
- the budget that counts is the SMALLEST monthly USD `aws:budgets/budget:Budget` limit in the plan
  (budgets in another unit or period, or whose limit is not known yet, are skipped): with several
  budgets, the tightest one is the one that alerts first, so it is the safe one to gate on;
- the cost is over the limit when it is strictly greater; an unknown cost is neither within nor
  over, and every caller says so instead of passing.
Pure: reads a Plan only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from infra.plan import Plan, is_unknown
from infra.tokens import BUDGETS_BUDGET

Verdict = Literal["within", "over", "unknown"]


@dataclass(frozen=True)
class MonthlyBudget:
    name: str
    urn: str
    limit_usd: Decimal


def _limit(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool) or is_unknown(value):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def monthly_budgets(plan: Plan) -> list[MonthlyBudget]:
    """Every monthly USD budget of the plan with a known limit, in plan order."""
    found = []
    for b in plan.of_type(BUDGETS_BUDGET):
        if b.inputs.get("timeUnit", "MONTHLY") != "MONTHLY" or b.inputs.get("limitUnit", "USD") != "USD":
            continue
        limit = _limit(b.inputs.get("limitAmount"))
        if limit is not None:
            found.append(MonthlyBudget(b.name, b.urn, limit))
    return found


def stack_budget(plan: Plan) -> MonthlyBudget | None:
    """The budget that counts: the smallest monthly USD limit (module doc), None without one."""
    budgets = monthly_budgets(plan)
    return min(budgets, key=lambda b: b.limit_usd) if budgets else None


def budget_check(expected: Decimal | None, limit: Decimal) -> Verdict:
    """Whether an expected monthly cost is within a limit; unknown when the cost is unknown."""
    if expected is None:
        return "unknown"
    return "over" if expected > limit else "within"
