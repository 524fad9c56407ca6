"""Plan -> Report: the cost preview of everything a plan declares.

Pure. Works from the plan alone (offline run, `pulumi preview --json`, `pulumi stack export`), never
from the program's components, so it prices what Pulumi would really create.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from infra.catalog import Catalog, load_catalog
from infra.cost.budget import monthly_budgets, stack_budget
from infra.cost.model import Report, ResourceCost
from infra.cost.plan_pools import pool_specs
from infra.cost.pools import PoolSpec, on_demand_range, pool_hours, price_pool, spot_range, volume_components
from infra.cost.prices import PRICES, REGION
from infra.cost.resources import Context, num, price_resource
from infra.cost.usage import Usage
from infra.cost.waterfall import PoolLevels, pool_levels, waterfall
from infra.plan import Plan
from infra.schedule import HOURS_PER_MONTH, Capacity
from infra.tokens import AWS_PROVIDER

COST_OUTPUT = "expected_monthly_cost_usd"

ASSUMPTIONS = (
    "a month is 730 hours (8,760 / 12), as AWS and Infracost price by",
    "GPU capacity is the desired size the group's scheduled actions set at each hour of the week; the cluster "
    "autoscaler may add nodes up to the group's max size, which is not priced",
    "on-demand and spot split by AWS's rule: base first, then ceil(percentage x rest) on-demand, the rest spot",
    "spot price of a type = its on-demand price x (1 - Spot Instance Advisor's 30-day average saving); low = the "
    "cheapest override, high = the most expensive, expected = mean of the cheapest 3 overrides for "
    "price-capacity-optimized (2 for lowest-price, all for capacity-optimized)",
    "on-demand: low = the cheapest override, high = the most expensive, expected = the cheapest "
    "(AWS's 'lowest-price' on-demand allocation launches the cheapest type first; 'prioritized' the first)",
    "root volumes are billed per instance-hour while the instance exists",
    "list prices in us-east-1: no free tier, Savings Plans, reserved capacity, credits or tax",
    "data transfer other than NAT processing (inter-AZ, internet egress) is not priced",
)


def _budget(plan: Plan, warnings: list[str]) -> Decimal | None:
    budgets = monthly_budgets(plan)
    counted = stack_budget(plan)
    if counted is None:
        return None
    if len(budgets) > 1:
        warnings.append(f"{len(budgets)} monthly USD budgets in the plan; the gate uses the smallest, {counted.name}")
    return counted.limit_usd


def _levels(spec: PoolSpec, catalog: Catalog) -> PoolLevels | None:
    scratch: list[str] = []
    od = on_demand_range(spec.overrides, spec.on_demand_strategy, catalog, scratch).expected
    spot = spot_range(spec.overrides, spec.spot_strategy, catalog, scratch, od).expected
    hours = pool_hours(spec)
    if od is None or (spot is None and hours.spot):
        return None
    volume = sum(
        (c.monthly.expected or Decimal(0) for c in volume_components(spec.root_volume, HOURS_PER_MONTH, scratch)),
        Decimal(0),
    )
    return pool_levels(hours.peak, hours.on_demand, hours.spot, od, spot or Decimal(0), volume / HOURS_PER_MONTH)


def _ceiling(spec: PoolSpec, catalog: Catalog) -> Decimal | None:
    """The pool's expected monthly cost at max size every hour: the autoscaler's worst case."""
    at_max = replace(
        spec, initial=Capacity(spec.initial.max_size, spec.initial.max_size, spec.initial.max_size), actions=[]
    )
    cost, _, _ = price_pool(at_max, catalog, "ceiling")
    return cost.monthly.expected


def estimate_plan(
    plan: Plan, *, usage: Usage | None = None, on: date | None = None, catalog: Catalog | None = None
) -> Report:
    catalog = catalog or load_catalog()
    usage = usage or Usage()
    on = on or datetime.now(UTC).date()
    warnings: list[str] = list(plan.warnings)
    assumptions: list[str] = list(ASSUMPTIONS)
    ctx = Context(catalog=catalog, usage=usage, on=on, warnings=warnings, assumptions=assumptions, plan=plan)

    regions = sorted({str(r.inputs["region"]) for r in plan.of_type(AWS_PROVIDER) if r.inputs.get("region")})
    if any(region != REGION for region in regions):
        warnings.append(
            f"the plan deploys to {', '.join(regions)} but the prices are {REGION} list prices (other regions "
            "usually cost more); fix: `frugal prices refresh --region <region>` for EC2, and read the rest as estimates"
        )
    specs, plan_notes = pool_specs(plan)
    warnings.extend(plan_notes)
    pool_costs: dict[str, ResourceCost] = {}
    summaries = []
    levels: list[PoolLevels] = []
    for group, spec, notes in specs:
        cost, summary, pool_warnings = price_pool(spec, catalog, group.type)
        pool_costs[group.urn] = cost
        summaries.append(summary)
        warnings.extend(pool_warnings)
        assumptions.extend(notes)
        if not spec.actions:
            assumptions.append(f"{spec.name}: no scheduled actions; priced at its own desired size all month")
        ceiling = _ceiling(spec, catalog)
        if ceiling is not None:
            assumptions.append(
                f"{spec.name}: if the cluster autoscaler held it at its max size ({spec.initial.max_size}) all month "
                f"it would cost {ceiling.quantize(Decimal('0.01'))} USD at expected prices (not in the totals)"
            )
        level = _levels(spec, catalog)
        if level is None:
            warnings.append(f"{spec.name}: prices unknown, left out of the savings waterfall")
        else:
            levels.append(level)

    resources: list[ResourceCost] = []
    # Registration order of an offline run is not deterministic; reports are (golden files, diffs).
    for r in sorted(plan.resources, key=lambda x: x.urn):
        if r.urn in pool_costs:
            resources.append(pool_costs[r.urn])
        elif (priced := price_resource(r, ctx)) is not None:
            resources.append(priced)
    for rc in resources:
        if rc.status == "not-priced":
            warnings.append(f"{rc.name} ({rc.type}): not priced, cost unknown")
        for c in rc.components:
            if not c.monthly.known:
                warnings.append(f"{rc.name}: {c.name}: price unknown")

    report = Report(
        project=plan.project,
        stack=plan.stack,
        plan_source=plan.source,
        region=REGION,
        hours_per_month=HOURS_PER_MONTH,
        priced_on=on.isoformat(),
        catalog={
            **{k: {"source": v.get("source", "-"), "as_of": v.get("as_of", "-")} for k, v in catalog.sources.items()},
            "other": {
                "source": "infra/cost/prices.py (Infracost us-east-1 golden test files; AWS list prices with URLs)",
                "as_of": f"{min(p.as_of for p in PRICES.values())}..{max(p.as_of for p in PRICES.values())}",
            },
        },
        resources=resources,
        pools=summaries,
        budget_monthly_usd=_budget(plan, warnings),
        assumptions=assumptions,
        warnings=list(dict.fromkeys(warnings)),
    )
    pool_expected = sum((c.monthly.expected or Decimal(0) for c in pool_costs.values()), Decimal(0))
    everything_else = (report.total.expected or Decimal(0)) - pool_expected
    if levels:
        report = report.model_copy(update={"waterfall": waterfall(levels, everything_else)})
    exported = plan.outputs.get(COST_OUTPUT)
    default_usage = not usage.data.defaults and not usage.data.resources
    # The program prices its own registrations with this model (infra/registrations.py), so the two
    # differ only when the export was made with other prices or on another day ("unknown" is no figure).
    if num(exported) is not None and default_usage and num(exported) != report.total.expected:
        report.warnings.append(
            f"the program exports {COST_OUTPUT}={exported} but the plan prices at {report.total.expected}: "
            "the export has drifted from this estimate (priced with another catalog or on another day)"
        )
    return report
