"""The estimator on the real stacks and on hand-built plans, against hand-computed figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from infra.cost.estimate import estimate_plan
from infra.cost.model import Range
from infra.cost.render import render
from infra.cost.schedules import ScheduleError, fire_hours_of_week
from infra.plan import Plan, PlannedResource
from infra.schedule import hours_per_month
from tests.cost.conftest import PRICED_ON

GROUP = "aws:autoscaling/group:Group"


def _pool(report, name):  # noqa: ANN001, ANN202
    return next(p for p in report.pools if p.name == name)


def test_prod_small_pool_hours_follow_the_schedule_and_aws_split_rule(prod_plan: Plan):
    # peak 50 h x 4 (2 od + 2 spot), shoulder 25 h x 2 (2 od), night 45 h x 1, weekend 48 h x 1 (od base).
    pool = _pool(estimate_plan(prod_plan, on=PRICED_ON), "pool-small-asg")
    assert pool.on_demand_hours_per_month == hours_per_month(50 * 2 + 25 * 2 + 45 + 48), "243 od hours a week"
    assert pool.spot_hours_per_month == hours_per_month(50 * 2), "100 spot hours a week"
    assert pool.peak_capacity == 4, "peak desired is 4"


def test_prod_large_pool_keeps_one_on_demand_node_and_runs_the_rest_on_spot(prod_plan: Plan):
    pool = _pool(estimate_plan(prod_plan, on=PRICED_ON), "pool-large-asg")
    assert pool.on_demand_hours_per_month == hours_per_month(50 * 1 + 25 * 1), "the base: one node, peak and shoulder"
    assert pool.spot_hours_per_month == hours_per_month(50 * 1), "base 1, 0% above: the second peak node is spot"


def test_dev_spot_expected_is_the_mean_of_the_three_cheapest_overrides(dev_plan: Plan):
    report = estimate_plan(dev_plan, on=PRICED_ON)
    spot = next(c for r in report.resources for c in r.components if c.name == "spot instance-hours")
    cheapest = sorted(Decimal(x) for x in ("0.18936", "0.29328", "0.38528"))  # g4dn.xlarge/2xlarge/4xlarge
    assert spot.unit_price.expected == sum(cheapest) / 3, "price-capacity-optimized: mean of the cheapest 3"
    assert spot.unit_price.low == cheapest[0], "low is the cheapest override's spot price (g4dn.xlarge 0.526 x 36%)"
    assert spot.monthly_quantity == hours_per_month(60), "one instance 12 h x 5 weekdays"


def test_eks_control_plane_is_billed_at_the_extended_rate_after_standard_support_ends(dev_plan: Plan):
    def eks(on: date) -> Decimal:
        report = estimate_plan(dev_plan, on=on)
        return next(r for r in report.resources if r.type == "aws:eks/cluster:Cluster").monthly.expected

    assert eks(date(2027, 3, 27)) == Decimal("73.00"), "1.35 is in standard support through 2027-03-27"
    assert eks(date(2027, 3, 28)) == Decimal("438.00"), "extended support bills $0.60/h from the next day"


def test_the_expected_total_is_inside_its_range_and_complete_for_both_stacks(any_plan: Plan):
    report = estimate_plan(any_plan, on=PRICED_ON)
    total = report.total
    assert total.low <= total.expected <= total.high, f"{total} ordered"
    assert report.complete and not report.unpriced, "every resource of our own stacks has a price model"
    assert report.waterfall[-1].monthly == total.expected, "the waterfall ends at the expected total"


def _plan(*resources: PlannedResource) -> Plan:
    return Plan(project="p", stack="s", source="pulumi-preview", resources=list(resources))


def _group(name: str = "gpu", **inputs) -> PlannedResource:  # noqa: ANN003
    base = {
        "minSize": 0,
        "maxSize": 4,
        "desiredCapacity": 2,
        "mixedInstancesPolicy": {
            "instancesDistribution": {
                "onDemandPercentageAboveBaseCapacity": 0,
                "spotAllocationStrategy": "price-capacity-optimized",
            },
            "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "g6.xlarge"}]},
        },
    }
    return PlannedResource(
        urn=f"urn:pulumi:s::p::{GROUP}::{name}", type=GROUP, name=name, custom=True, inputs={**base, **inputs}
    )


def _schedule(name: str, target: str, desired: int, cron: str, deps: list[str] | None = None) -> PlannedResource:
    t = "aws:autoscaling/schedule:Schedule"
    return PlannedResource(
        urn=f"urn:pulumi:s::p::{t}::{name}",
        type=t,
        name=name,
        custom=True,
        inputs={
            "autoscalingGroupName": target,
            "recurrence": cron,
            "minSize": 0,
            "maxSize": -1,
            "desiredCapacity": desired,
            "timeZone": "UTC",
        },
        property_dependencies={"autoscalingGroupName": deps or []},
    )


def test_a_schedule_whose_group_name_is_unknown_is_matched_by_its_property_dependency():
    a, b = _group("a"), _group("b")
    plan = _plan(a, b, _schedule("off", "<unknown>", 0, "0 0 * * *", [a.urn]))
    report = estimate_plan(plan, on=PRICED_ON)
    pa, pb = _pool(report, "a"), _pool(report, "b")
    assert pa.schedule_actions == 7 and pb.schedule_actions == 0, "the action belongs to the group it depends on"
    assert pa.capacity_by_hour == [0] * 168, "desired 0 every midnight with nothing raising it: always 0"
    assert any("matched by its dependency" in x for x in report.assumptions), "the matching is stated"


def test_a_schedule_for_no_group_in_the_plan_is_reported_not_silently_dropped():
    plan = _plan(_group("a"), _group("b"), _schedule("stray", "<unknown>", 0, "0 0 * * *"))
    report = estimate_plan(plan, on=PRICED_ON)
    assert any("stray" in w and "not applied" in w for w in report.warnings), "an unmatched action is a warning"


def test_an_unknown_resource_type_is_not_priced_and_never_counted_as_zero():
    odd = PlannedResource(
        urn="urn:pulumi:s::p::aws:rds/instance:Instance::db",
        type="aws:rds/instance:Instance",
        name="db",
        custom=True,
        inputs={},
    )
    report = estimate_plan(_plan(odd), on=PRICED_ON)
    assert report.resources[0].status == "not-priced", "no price model means not priced"
    assert report.resources[0].monthly == Range.unknown(), "its cost is unknown (None), not 0"
    assert not report.complete and "db" in [r.name for r in report.unpriced], "the report says it is incomplete"
    assert "| **db** `Instance` | | | - | **-** | - |" in render(report, "markdown"), "unknown prints '-'"


def test_an_override_without_a_price_is_left_out_of_the_range_with_a_warning():
    g = _group(
        mixedInstancesPolicy={
            "launchTemplate": {"overrides": [{"instanceType": "g5.xlarge"}, {"instanceType": "zz9.huge"}]}
        }
    )
    report = estimate_plan(_plan(g), on=PRICED_ON)
    od = next(c for c in report.resources[0].components if c.name == "on-demand instance-hours")
    assert od.unit_price == Range.fixed(Decimal("1.006")), "only g5.xlarge is priced (AWS default: prioritized)"
    assert any("zz9.huge" in w for w in report.warnings), "the unpriced override is named in a warning"


def test_cron_fire_times_become_hours_of_the_week():
    assert fire_hours_of_week("0 8 * * SUN,SAT") == ([5 * 24 + 8, 6 * 24 + 8], False), "Sat and Sun 08:00"
    assert fire_hours_of_week("30 18 * * MON-FRI")[1] is True, "a fire at :30 is flagged as off the hour"
    with pytest.raises(ScheduleError, match="5-field"):
        fire_hours_of_week("0 8 * * * *")
