"""The cost report: resources, their cost components, totals, savings steps, assumptions.

Money is Decimal. An amount that cannot be priced is None: it prints as '-', is listed in the
report's warnings and is left out of the totals (which then say they are incomplete); it is
never 0. Every amount is a range (low, expected, high); for a fixed price the three are equal.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

SCHEMA: Final = "frugal.cost/v1"
CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Range(BaseModel):
    """Monthly USD as (low, expected, high); None in all three means unknown."""

    model_config = ConfigDict(frozen=True)

    low: Decimal | None
    expected: Decimal | None
    high: Decimal | None

    @classmethod
    def fixed(cls, value: Decimal | None) -> Range:
        return cls(low=value, expected=value, high=value)

    @classmethod
    def unknown(cls) -> Range:
        return cls(low=None, expected=None, high=None)

    @property
    def known(self) -> bool:
        return self.expected is not None

    def values(self) -> tuple[Decimal, Decimal, Decimal]:
        """(low, expected, high) of a known range: every constructor sets all three or none."""
        if self.low is None or self.expected is None or self.high is None:
            raise ValueError(f"a range with an unknown bound has no values: {self!r}")
        return self.low, self.expected, self.high

    def __add__(self, other: Range) -> Range:
        if not other.known:
            return self
        if not self.known:
            return other
        (lo, ex, hi), (olo, oex, ohi) = self.values(), other.values()
        return Range(low=lo + olo, expected=ex + oex, high=hi + ohi)

    def scaled(self, factor: Decimal) -> Range:
        if not self.known:
            return self
        lo, ex, hi = self.values()
        return Range(low=lo * factor, expected=ex * factor, high=hi * factor)

    def rounded(self) -> Range:
        if not self.known:
            return self
        lo, ex, hi = self.values()
        return Range(low=cents(lo), expected=cents(ex), high=cents(hi))


ZERO = Range.fixed(Decimal(0))


class CostComponent(BaseModel):
    """One billed dimension of a resource, Infracost-style: quantity x unit price = monthly cost."""

    model_config = ConfigDict(frozen=True)

    name: str
    category: str
    """Groups components in the chart: compute-on-demand, compute-spot, storage, network, control-plane, ..."""
    monthly_quantity: Decimal | None
    unit: str
    unit_price: Range
    monthly: Range
    source: str
    as_of: str
    note: str | None = None


class ResourceCost(BaseModel):
    model_config = ConfigDict(frozen=True)

    urn: str
    name: str
    type: str
    status: Literal["priced", "free", "not-priced"]
    components: list[CostComponent] = []
    note: str | None = None

    @property
    def monthly(self) -> Range:
        """Sum of the known components; unknown when nothing about it is known (never a made-up 0)."""
        if self.status == "not-priced" or (self.components and not any(c.monthly.known for c in self.components)):
            return Range.unknown()
        total = ZERO
        for component in self.components:
            total = total + component.monthly
        return total


class PoolSummary(BaseModel):
    """What the estimator understood about one auto-scaling group."""

    model_config = ConfigDict(frozen=True)

    urn: str
    name: str
    overrides: list[str]
    on_demand_base: int
    on_demand_pct_above_base: int
    spot_allocation_strategy: str
    on_demand_allocation_strategy: str
    schedule_actions: int
    peak_capacity: int
    on_demand_hours_per_month: Decimal
    spot_hours_per_month: Decimal
    capacity_by_hour: list[int]
    """Desired capacity at each hour of the week (Monday 00:00 = 0, in the schedule's time zone)."""


class WaterfallStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    monthly: Decimal
    """At expected prices: the step's change (negative = a saving); for baseline and total, the level."""
    pct_of_baseline: Decimal | None
    pct_of_compute_baseline: Decimal | None
    """The step against the pools' baseline alone (instances and root volumes), as the tutorial counts."""
    kind: Literal["baseline", "saving", "total"]


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_: Literal["frugal.cost/v1"] = SCHEMA
    project: str
    stack: str
    plan_source: str
    region: str
    currency: Literal["USD"] = "USD"
    hours_per_month: Decimal
    priced_on: str
    """The date the estimate is for (EKS support status depends on it)."""
    catalog: dict[str, dict[str, str]]
    """Where the prices come from: per dataset its source and as_of."""
    resources: list[ResourceCost]
    pools: list[PoolSummary] = []
    waterfall: list[WaterfallStep] = []
    budget_monthly_usd: Decimal | None = None
    assumptions: list[str] = []
    warnings: list[str] = []

    @property
    def total(self) -> Range:
        total = ZERO
        for resource in self.resources:
            total = total + resource.monthly
        return total.rounded()

    @property
    def unpriced(self) -> list[ResourceCost]:
        return [r for r in self.resources if r.status == "not-priced" or not r.monthly.known]

    @property
    def complete(self) -> bool:
        return not self.unpriced and all(c.monthly.known for r in self.resources for c in r.components)
