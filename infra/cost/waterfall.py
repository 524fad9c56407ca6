"""The savings waterfall against the tutorial's "before": all on-demand, 24x7, at peak capacity.

Pure. Steps, in this order (the order changes how much each step is credited with; this one
follows the tutorial, schedule first, then spot):
  baseline  = every pool at its peak desired capacity all month, all on-demand, + everything else
  (1) schedule: the scheduled instance-hours instead of peak x 730, still all on-demand
  (2) spot mix: the on-demand/spot split of those hours at the expected spot price
  = the report's expected total.
Amounts are at expected prices (a step's low/high would mix the ends of different ranges).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from infra.cost.model import WaterfallStep, cents
from infra.schedule import HOURS_PER_MONTH

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PoolLevels:
    """One pool's monthly compute cost (instances + root volumes) at the waterfall's three levels."""

    baseline: Decimal
    scheduled_on_demand: Decimal
    actual: Decimal


def pool_levels(
    peak: int,
    on_demand_hours: Decimal,
    spot_hours: Decimal,
    on_demand_price: Decimal,
    spot_price: Decimal,
    volume_per_instance_hour: Decimal = Decimal(0),
) -> PoolLevels:
    per_hour = on_demand_price + volume_per_instance_hour
    total_hours = on_demand_hours + spot_hours
    return PoolLevels(
        baseline=peak * HOURS_PER_MONTH * per_hour,
        scheduled_on_demand=total_hours * per_hour,
        actual=on_demand_hours * on_demand_price + spot_hours * spot_price + total_hours * volume_per_instance_hour,
    )


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else (part * HUNDRED / whole).quantize(Decimal("0.1"))


def waterfall(levels: list[PoolLevels], everything_else: Decimal) -> list[WaterfallStep]:
    """Baseline, the two savings and the total, each with its share of the baseline."""
    baseline_compute = sum((x.baseline for x in levels), Decimal(0))
    scheduled = sum((x.scheduled_on_demand for x in levels), Decimal(0))
    actual = sum((x.actual for x in levels), Decimal(0))
    baseline = baseline_compute + everything_else
    return [
        WaterfallStep(
            label="baseline: all on-demand, 24x7 at peak capacity",
            monthly=cents(baseline),
            pct_of_baseline=Decimal(100) if baseline else None,
            pct_of_compute_baseline=None,
            kind="baseline",
        ),
        WaterfallStep(
            label="(1) scheduled capacity instead of 24x7 peak",
            monthly=cents(scheduled - baseline_compute),
            pct_of_baseline=_pct(scheduled - baseline_compute, baseline),
            pct_of_compute_baseline=_pct(scheduled - baseline_compute, baseline_compute),
            kind="saving",
        ),
        WaterfallStep(
            label="(2) spot mix instead of all on-demand",
            monthly=cents(actual - scheduled),
            pct_of_baseline=_pct(actual - scheduled, baseline),
            pct_of_compute_baseline=_pct(actual - scheduled, baseline_compute),
            kind="saving",
        ),
        WaterfallStep(
            label="expected monthly cost",
            monthly=cents(actual + everything_else),
            pct_of_baseline=_pct(actual + everything_else, baseline),
            pct_of_compute_baseline=None,
            kind="total",
        ),
    ]
