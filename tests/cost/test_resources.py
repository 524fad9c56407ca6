"""Fixed and usage-based prices of single resources, against hand-computed amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infra.cost.diff import diff_reports
from infra.cost.estimate import estimate_plan
from infra.cost.usage import Usage, UsageFile
from infra.plan import Plan, PlannedResource
from tests.cost.conftest import PRICED_ON


def priced(type_: str, inputs: dict, usage: Usage | None = None) -> Decimal:
    r = PlannedResource(urn=f"urn:pulumi:s::p::{type_}::x", type=type_, name="x", custom=True, inputs=inputs)
    report = estimate_plan(Plan(project="p", stack="s", source="offline", resources=[r]), usage=usage, on=PRICED_ON)
    return report.total


CASES = [
    ("aws:ec2/natGateway:NatGateway", {}, "37.35", "730 h x $0.045 + 100 GB default x $0.045"),
    ("aws:ec2/eip:Eip", {}, "3.65", "730 h x $0.005"),
    ("aws:kms/key:Key", {"enableKeyRotation": False}, "1.00", "one key, no rotation"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", {"period": 10}, "0.30", "high resolution below 60 s"),
    (
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/app", "retentionInDays": 365},
        "0.86",
        "1 GB x $0.50 + 12.0 GB-months x $0.03",
    ),
    ("aws:lambda/function:Function", {"memorySize": 1024}, "0.17", "10k x 1 s x 1 GB x $0.0000166667 + $0.002"),
    ("aws:lb/loadBalancer:LoadBalancer", {"loadBalancerType": "application"}, "22.27", "730 x ($0.0225 + $0.008)"),
    ("aws:lb/loadBalancer:LoadBalancer", {"loadBalancerType": "network"}, "20.81", "730 x ($0.0225 + $0.006)"),
    ("aws:ebs/volume:Volume", {"size": 500, "type": "gp3"}, "40.00", "500 GB x $0.08"),
    ("aws:secretsmanager/secret:Secret", {}, "0.40", "one secret"),
    (
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"engine": "redis", "nodeType": "cache.r7g.large", "numNodeGroups": 2, "replicasPerNodeGroup": 1},
        "639.48",
        "4 nodes x 730 h x $0.219",
    ),
    ("aws:elasticache/cluster:Cluster", {"nodeType": "cache.t4g.micro", "numCacheNodes": 1}, "11.68", "730 x $0.016"),
    ("aws:ec2/instance:Instance", {"instanceType": "g5.xlarge"}, "734.38", "730 x $1.006"),
]


@pytest.mark.parametrize(("type_", "inputs", "usd", "why"), CASES, ids=[f"{c[0]}-{c[3][:20]}" for c in CASES])
def test_each_priced_type_costs_what_its_list_price_says(type_: str, inputs: dict, usd: str, why: str):
    total = priced(type_, inputs)
    assert total.expected == Decimal(usd), f"{type_}: {why}"
    assert total.low <= total.expected <= total.high, "ordered range"


def test_a_rotating_kms_key_ranges_up_to_three_dollars():
    total = priced("aws:kms/key:Key", {"enableKeyRotation": True})
    assert (total.low, total.expected, total.high) == (Decimal("1.00"), Decimal("1.00"), Decimal("3.00")), total


def test_a_log_group_without_retention_is_priced_at_twelve_months_and_warned_about():
    r = PlannedResource(
        urn="urn:pulumi:s::p::aws:cloudwatch/logGroup:LogGroup::x",
        type="aws:cloudwatch/logGroup:LogGroup",
        name="x",
        custom=True,
        inputs={},
    )
    report = estimate_plan(Plan(project="p", stack="s", source="offline", resources=[r]), on=PRICED_ON)
    assert report.total.expected == Decimal("0.86"), "1 GB x $0.50 + 12 GB-months x $0.03"
    assert any("keeps logs forever" in w for w in report.warnings), "unbounded retention is a warning"


def test_usage_defaults_from_a_usage_file_apply_to_every_resource():
    usage = Usage(UsageFile(defaults={"nat_gateway_gb_per_month": Decimal(0)}), source="test")
    assert priced("aws:ec2/natGateway:NatGateway", {}, usage).expected == Decimal("32.85"), "hours only"


def test_an_unknown_elasticache_node_type_is_unknown_not_zero():
    total = priced("aws:elasticache/cluster:Cluster", {"nodeType": "cache.x99.huge"})
    assert total.expected == Decimal("0.00"), "the unknown component adds nothing to the known total..."
    r = PlannedResource(
        urn="urn:pulumi:s::p::aws:elasticache/cluster:Cluster::x",
        type="aws:elasticache/cluster:Cluster",
        name="x",
        custom=True,
        inputs={"nodeType": "cache.x99.huge"},
    )
    report = estimate_plan(Plan(project="p", stack="s", source="offline", resources=[r]), on=PRICED_ON)
    assert not report.complete and report.resources[0].monthly.expected is None, "...and the report is incomplete"


def test_a_removed_resource_is_a_minus_line_with_a_negative_amount():
    nat = PlannedResource(
        urn="urn:pulumi:a::p::aws:ec2/natGateway:NatGateway::n",
        type="aws:ec2/natGateway:NatGateway",
        name="n",
        custom=True,
        inputs={},
    )
    before = estimate_plan(Plan(project="p", stack="a", source="offline", resources=[nat]), on=PRICED_ON)
    after = estimate_plan(Plan(project="p", stack="b", source="offline", resources=[]), on=PRICED_ON)
    [change] = diff_reports(before, after)
    assert (change.op, change.delta) == ("-", Decimal("-37.35")), "removal saves the NAT's cost"


def test_a_plan_in_another_region_is_warned_that_prices_are_us_east_1():
    provider = PlannedResource(
        urn="urn:pulumi:s::p::pulumi:providers:aws::aws",
        type="pulumi:providers:aws",
        name="aws",
        custom=True,
        inputs={"region": "eu-west-1"},
    )
    report = estimate_plan(Plan(project="p", stack="s", source="offline", resources=[provider]), on=PRICED_ON)
    assert any("eu-west-1" in w and "us-east-1 list prices" in w for w in report.warnings), report.warnings
