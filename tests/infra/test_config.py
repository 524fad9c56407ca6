"""Stack config validation: every bad config is rejected before any resource exists, with a message
that names the key, the bad value, the rule and the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.config import ConfigError, parse
from infra.offline import run_offline
from tests.fakes import as_engine_config, stack_values


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(values: dict[str, Any]) -> None:
        node: Any = values
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        if value is _DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


_DELETE = object()

# (test id, edit to the dev stack, key the message must name, words the message must contain)
BAD_CONFIGS = [
    ("cpu-instance", _set("pools.0.instance_types", ["c5.xlarge"]), "pools.0.instance_types", ["no GPU", "fix"]),
    ("amd-gpu", _set("pools.0.instance_types", ["g4ad.xlarge"]), "pools.0.instance_types", ["not NVIDIA"]),
    ("typo-instance", _set("pools.0.instance_types", ["g5.xlarg"]), "pools.0.instance_types", ["not an EC2"]),
    ("min-above-max", _set("pools.0.min_size", 5), "pools.0", ["min_size <= desired_capacity <= max_size"]),
    ("pct-over-100", _set("pools.0.on_demand_percentage_above_base", 150), "on_demand_percentage_above_base", ["100"]),
    ("bad-strategy", _set("pools.0.spot_allocation_strategy", "cheapest"), "spot_allocation_strategy", ["lowest"]),
    ("bad-cidr", _set("network.cidr", "10.0.0.0/33"), "network.cidr", ["CIDR"]),
    ("public-cidr", _set("network.cidr", "8.8.0.0/16"), "network.cidr", ["private"]),
    ("nat-over-az", _set("network.nat_gateways", 3), "network", ["at most one NAT gateway per AZ"]),
    (
        "open-endpoint",
        _set("cluster.endpoint_public_access_cidrs", ["0.0.0.0/0"]),
        "endpoint_public_access_cidrs",
        ["whole internet"],
    ),
    ("old-k8s", _set("cluster.kubernetes_version", "1.21"), "cluster.kubernetes_version", ["still supports"]),
    ("bad-tz", _set("schedule.time_zone", "America/NewYork"), "schedule.time_zone", ["IANA", "New_York"]),
    ("overlap", _set("schedule.periods.0.end_hour", 21), "schedule", ["both claim", "Mon 20:00-Mon 21:00"]),
    ("gap", _set("schedule.periods.2.days", ["sat"]), "schedule", ["no period covers", "Sun 08:00-Sun 20:00"]),
    (
        "unknown-pool",
        _set("schedule.periods.0.capacity", {"huge": {"desired": 1}}),
        "capacity",
        ["pool 'huge' does not exist"],
    ),
    ("no-subscriber", _set("budget.subscribers", []), "budget.subscribers", ["at least 1"]),
    ("bad-email", _set("budget.subscribers", ["finops"]), "budget.subscribers", ["not an e-mail"]),
    ("no-forecast", _set("budget.forecasted_thresholds_pct", []), "budget", ["FORECASTED"]),
    ("too-many-alerts", _set("budget.actual_thresholds_pct", list(range(10, 110, 10))), "budget", ["at most 10"]),
    ("negative-budget", _set("budget.monthly_limit_usd", -5), "budget.monthly_limit_usd", ["greater than 0"]),
    ("missing-budget", _set("budget", _DELETE), "frugal-llm:budget", ["is missing"]),
    ("bad-env-tag", _set("tags.environment", "qa"), "tags.environment", ["'dev', 'staging' or 'prod'"]),
    ("typo-key", _set("pool", []), "frugal-llm:pool", ["unknown key"]),
    ("typo-nested", _set("pools.0.instance_type", "g5.xlarge"), "pools.0.instance_type", ["unknown key"]),
]


@pytest.mark.parametrize("case_id, edit, key, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_each_bad_config_is_rejected_with_a_message_naming_the_key(case_id, edit, key, words):
    values = stack_values("dev")
    edit(values)
    with pytest.raises(ConfigError) as caught:
        parse("dev", values)
    message = str(caught.value)
    assert key in message, f"{case_id}: the message names the key {key!r}: {message}"
    for word in words:
        assert word in message, f"{case_id}: the message explains the rule ({word!r}): {message}"


def test_a_bad_config_stops_the_program_before_any_resource_is_declared():
    values = stack_values("dev")
    values["pools"][0]["instance_types"] = ["m5.large"]
    from infra.offline import RecordingEngine  # noqa: F401  (the engine run_offline installs)

    with pytest.raises(ConfigError, match="no GPU"):
        run_offline("dev", config=as_engine_config(values))
    import pulumi.runtime.settings as settings

    monitor = settings.SETTINGS.monitor
    assert not getattr(monitor, "registrations", []), "nothing was registered before the config error"


def test_every_problem_is_reported_at_once_not_one_per_run():
    values = stack_values("dev")
    values["pools"][0]["instance_types"] = ["c5.xlarge"]
    values["budget"]["subscribers"] = ["nobody"]
    with pytest.raises(ConfigError) as caught:
        parse("dev", values)
    assert len(caught.value.problems) == 2, f"both problems are listed: {caught.value.problems}"


def test_an_existing_vpc_is_accepted_and_needs_two_private_subnets():
    values = stack_values("dev")
    values["network"] = {"vpc_id": "vpc-0abc12345", "private_subnet_ids": ["subnet-0abc12345", "subnet-0def67890"]}
    cfg = parse("dev", values)
    assert cfg.network.vpc_id == "vpc-0abc12345", "the existing-VPC variant is chosen by its keys"
    values["network"]["private_subnet_ids"] = ["subnet-0abc12345"]
    with pytest.raises(ConfigError, match="network.private_subnet_ids"):
        parse("dev", values)


def test_dev_and_prod_differ_the_way_environments_should():
    dev, prod = parse("dev", stack_values("dev")), parse("prod", stack_values("prod"))
    assert dev.network.nat_gateways == 1 and prod.network.nat_gateways == prod.network.az_count == 3, (
        "dev saves on NAT gateways; prod has one per AZ"
    )
    assert all(p.on_demand_base_capacity == 0 and p.on_demand_percentage_above_base == 0 for p in dev.pools), (
        "dev runs on spot only"
    )
    assert all(p.on_demand_base_capacity >= 1 for p in prod.pools), "prod keeps an on-demand base in every tier"
    assert any(p.on_demand_percentage_above_base > 0 for p in prod.pools), "and an on-demand share above it"
    dev_week = dev.pool_capacity_by_hour(dev.pools[0])
    assert dev_week[0].desired == 0 and dev_week[5 * 24 + 12].desired == 0, "dev is off at night and at weekends"
    assert dev_week[12].desired == 1, "dev runs during working hours"
    assert prod.budget.monthly_limit_usd > dev.budget.monthly_limit_usd, "prod has the larger budget"


def test_a_version_eks_no_longer_runs_is_refused_and_one_past_standard_support_warns():
    from datetime import date

    from infra.catalog import EKS_EXTENDED_SUPPORT_ENDS, EKS_STANDARD_SUPPORT_ENDS

    today = date.today()
    gone = [v for v, end in EKS_EXTENDED_SUPPORT_ENDS.items() if end < today]
    extended = [
        v for v in EKS_STANDARD_SUPPORT_ENDS if EKS_STANDARD_SUPPORT_ENDS[v] < today <= EKS_EXTENDED_SUPPORT_ENDS[v]
    ]
    values = stack_values("dev")
    if gone:
        values["cluster"]["kubernetes_version"] = gone[-1]
        with pytest.raises(ConfigError, match="a version EKS still supports"):
            parse("dev", values)
    if extended:
        values["cluster"]["kubernetes_version"] = extended[0]
        plan = run_offline("dev", config=as_engine_config(values))
        assert any("past EKS standard support" in w and "$0.60/h" in w for w in plan.warnings), (
            f"extended support's 6x price is surfaced: {plan.warnings}"
        )
    assert gone or extended, "the calendar has versions on both sides of today to test with"
