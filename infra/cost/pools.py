"""GPU pools: the hourly capacity of an auto-scaling group and its price range over all overrides.

Pure. For every hour of the week: desired capacity from the group's sizes and its scheduled actions
(`infra.schedule.capacity_by_hour`), split into on-demand and spot by AWS's rule
(`infra.sizing.lifecycle_split`); summed into monthly instance-hours (730 h a month).

Prices over the overrides (documented in docs/cost-preview.md):
- spot price of a type = on-demand x (1 - Spot Instance Advisor's 30-day average saving);
  low = the cheapest override's spot price, high = the most expensive override's, expected =
  the mean of the cheapest k overrides' spot prices, k by allocation strategy: 3 for
  price-capacity-optimized (it takes the cheapest pools among those with the most spare capacity,
  so it usually lands on one of the cheapest few types, not always the cheapest), 2 for
  lowest-price (AWS's default of two spot pools), all for capacity-optimized(-prioritized)
  (they ignore price).
  The expected spot price is capped at the expected on-demand price (see spot_range).
- on-demand: low = cheapest override, high = the most expensive; expected = the cheapest for
  AWS's `lowest-price` on-demand strategy (it launches the cheapest type first), the first
  override for `prioritized`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from infra.catalog import Catalog
from infra.cost.model import CostComponent, PoolSummary, Range, ResourceCost
from infra.cost.prices import price
from infra.schedule import HOURS_PER_MONTH, Action, Capacity, capacity_by_hour, hours_per_month
from infra.sizing import lifecycle_split

SPOT_EXPECTED_K = {"price-capacity-optimized": 3, "lowest-price": 2}
GP3_BASELINE_IOPS = 3000
GP3_BASELINE_MBPS = 125


@dataclass(frozen=True)
class RootVolume:
    size_gib: int
    volume_type: str
    iops: int | None = None
    throughput_mbps: int | None = None


@dataclass
class PoolSpec:
    urn: str
    name: str
    overrides: list[str]
    on_demand_base: int
    on_demand_pct: int
    spot_strategy: str
    on_demand_strategy: str
    initial: Capacity
    actions: list[Action]
    root_volume: RootVolume | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Hours:
    on_demand: Decimal
    spot: Decimal
    by_hour: list[Capacity]

    @property
    def total(self) -> Decimal:
        return self.on_demand + self.spot

    @property
    def peak(self) -> int:
        return max(c.desired for c in self.by_hour)


def pool_hours(spec: PoolSpec) -> Hours:
    by_hour = capacity_by_hour(spec.initial, spec.actions)
    od = spot = 0
    for cap in by_hour:
        split = lifecycle_split(cap.desired, spec.on_demand_base, spec.on_demand_pct)
        od += split.on_demand
        spot += split.spot
    return Hours(on_demand=hours_per_month(od), spot=hours_per_month(spot), by_hour=by_hour)


def _mean(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def on_demand_range(overrides: list[str], strategy: str, catalog: Catalog, warnings: list[str]) -> Range:
    known: list[tuple[str, Decimal]] = []
    for t in overrides:
        spec = catalog.get(t)
        if spec is not None and spec.on_demand_hourly:
            known.append((t, spec.on_demand_hourly))
    for t in overrides:
        if not any(t == k for k, _ in known):
            warnings.append(f"{t}: no on-demand price in the catalog; left out of the on-demand range")
    if not known:
        return Range.unknown()
    prices = [p for _, p in known]
    expected = known[0][1] if strategy == "prioritized" else min(prices)
    return Range(low=min(prices), expected=expected, high=max(prices))


def spot_prices(overrides: list[str], catalog: Catalog, warnings: list[str]) -> list[Decimal]:
    out: list[Decimal] = []
    for t in overrides:
        spec = catalog.get(t)
        if spec is None or spec.on_demand_hourly is None or spec.spot_saving_pct is None:
            warnings.append(f"{t}: no Spot Instance Advisor saving in the catalog; left out of the spot range")
            continue
        out.append(spec.on_demand_hourly * (Decimal(100) - Decimal(spec.spot_saving_pct)) / Decimal(100))
    return sorted(out)


def spot_range(
    overrides: list[str],
    strategy: str,
    catalog: Catalog,
    warnings: list[str],
    on_demand_expected: Decimal | None = None,
) -> Range:
    prices = spot_prices(overrides, catalog, warnings)
    if not prices:
        return Range.unknown()
    k = SPOT_EXPECTED_K.get(strategy, len(prices))
    expected = _mean(prices[:k])
    if on_demand_expected is not None:
        # In a group whose overrides differ widely in price, the mean of the cheapest k spot prices can
        # exceed the cheapest on-demand price; a spot instance is not expected to cost more than the
        # on-demand instance the same group would launch, so the estimate is capped there.
        expected = max(prices[0], min(expected, on_demand_expected))
    return Range(low=prices[0], expected=expected, high=prices[-1])


def _times(r: Range, quantity: Decimal) -> Range:
    return r.scaled(quantity)


def volume_components(volume: RootVolume | None, instance_hours: Decimal, warnings: list[str]) -> list[CostComponent]:
    if volume is None:
        return []
    months = instance_hours / HOURS_PER_MONTH
    if volume.volume_type != "gp3":
        warnings.append(f"root volume type {volume.volume_type!r} has no price in the catalog (only gp3)")
        return [
            CostComponent(
                name=f"root volumes ({volume.volume_type}, {volume.size_gib} GiB)",
                category="storage",
                monthly_quantity=volume.size_gib * months,
                unit="GB-month",
                unit_price=Range.unknown(),
                monthly=Range.unknown(),
                source="-",
                as_of="-",
            )
        ]
    gb = price("gp3.gb_month")
    out = [
        CostComponent(
            name="root volumes (gp3)",
            category="storage",
            monthly_quantity=volume.size_gib * months,
            unit="GB-month",
            unit_price=Range.fixed(gb.usd),
            monthly=Range.fixed(None if gb.usd is None else gb.usd * volume.size_gib * months),
            source=gb.source,
            as_of=gb.as_of,
            note=f"{volume.size_gib} GiB per instance, billed per instance-hour",
        )
    ]
    for key, value, base, unit in (
        ("gp3.iops_month", volume.iops, GP3_BASELINE_IOPS, "IOPS-month"),
        ("gp3.mbps_month", volume.throughput_mbps, GP3_BASELINE_MBPS, "MBps-month"),
    ):
        if value and value > base:
            item = price(key)
            qty = (value - base) * months
            out.append(
                CostComponent(
                    name=f"root volumes provisioned {unit.split('-')[0]} above {base}",
                    category="storage",
                    monthly_quantity=qty,
                    unit=unit,
                    unit_price=Range.fixed(item.usd),
                    monthly=Range.fixed(None if item.usd is None else item.usd * qty),
                    source=item.source,
                    as_of=item.as_of,
                )
            )
    return out


def price_pool(spec: PoolSpec, catalog: Catalog, resource_type: str) -> tuple[ResourceCost, PoolSummary, list[str]]:
    """The group's cost components, what was understood about it, and its warnings."""
    warnings: list[str] = []
    hours = pool_hours(spec)
    od_price = on_demand_range(spec.overrides, spec.on_demand_strategy, catalog, warnings)
    sp_price = spot_range(spec.overrides, spec.spot_strategy, catalog, warnings, od_price.expected)
    od_src = catalog.sources.get("on_demand", {})
    sp_src = catalog.sources.get("spot_advisor", {})
    types = ", ".join(spec.overrides[:3]) + (f" +{len(spec.overrides) - 3}" if len(spec.overrides) > 3 else "")
    components = [
        CostComponent(
            name="on-demand instance-hours",
            category="compute-on-demand",
            monthly_quantity=hours.on_demand,
            unit="instance-hours",
            unit_price=od_price,
            monthly=_times(od_price, hours.on_demand) if hours.on_demand else Range.fixed(Decimal(0)),
            source=od_src.get("source", "-"),
            as_of=od_src.get("as_of", "-"),
            note=f"on-demand allocation '{spec.on_demand_strategy}' over {types}",
        ),
        CostComponent(
            name="spot instance-hours",
            category="compute-spot",
            monthly_quantity=hours.spot,
            unit="instance-hours",
            unit_price=sp_price,
            monthly=_times(sp_price, hours.spot) if hours.spot else Range.fixed(Decimal(0)),
            source=f"on-demand x (1 - saving); saving from {sp_src.get('source', '-')}",
            as_of=sp_src.get("as_of", "-"),
            note=f"spot allocation '{spec.spot_strategy}' over {types}",
        ),
        *volume_components(spec.root_volume, hours.total, warnings),
    ]
    if spec.root_volume is None:
        warnings.append(f"{spec.name}: no launch template with a root volume found; root volumes not priced")
    summary = PoolSummary(
        urn=spec.urn,
        name=spec.name,
        overrides=spec.overrides,
        on_demand_base=spec.on_demand_base,
        on_demand_pct_above_base=spec.on_demand_pct,
        spot_allocation_strategy=spec.spot_strategy,
        on_demand_allocation_strategy=spec.on_demand_strategy,
        schedule_actions=len(spec.actions),
        peak_capacity=hours.peak,
        on_demand_hours_per_month=hours.on_demand,
        spot_hours_per_month=hours.spot,
        capacity_by_hour=[c.desired for c in hours.by_hour],
    )
    cost = ResourceCost(urn=spec.urn, name=spec.name, type=resource_type, status="priced", components=components)
    return cost, summary, [f"{spec.name}: {w}" if not w.startswith(spec.name) else w for w in warnings]
