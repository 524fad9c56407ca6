"""The cost preview: prices a plan (offline run, `pulumi preview --json` or `pulumi stack export`).

Pure: nothing in this package imports Pulumi. `estimate.estimate_plan(plan)` turns a `Plan` into a
`Report`; `render` prints it; `diff` compares two reports; `refresh` rebuilds the EC2 catalog.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.plan import Plan


def expected_monthly_cost(plan: Plan, *, on: date | None = None) -> Decimal | None:
    """The plan's expected monthly total in USD, or None when some resource cannot be priced.

    The one number the policy pack's budget rule and other callers need; the import is deferred so
    that `infra.config` (which reads `infra.cost.prices`) does not pull in the whole estimator.
    """
    from infra.cost.estimate import estimate_plan

    report = estimate_plan(plan, on=on)
    return report.total.expected if report.complete else None
