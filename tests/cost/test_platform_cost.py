"""The platform's billable items in the cost preview: system nodes (on-demand or spot), the
interruption queue, and the free items with their reasons, against hand-computed amounts."""

from __future__ import annotations

from decimal import Decimal

from infra.catalog import load_catalog
from infra.cost.estimate import estimate_plan
from infra.cost.usage import Usage, UsageFile
from infra.plan import Plan, PlannedResource
from tests.cost.conftest import PRICED_ON

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CENT = Decimal("0.01")


def plan_of(*resources: PlannedResource) -> Plan:
    return Plan(project="p", stack="s", source="offline", resources=list(resources))


def resource(type_: str, name: str, inputs: dict) -> PlannedResource:
    return PlannedResource(urn=f"urn:pulumi:s::p::{type_}::{name}", type=type_, name=name, custom=True, inputs=inputs)


def cost_of(report, name: str):
    return next(r for r in report.resources if r.name == name)


def test_prod_system_nodes_are_two_on_demand_nodes_of_the_first_listed_type_all_month(prod_plan: Plan):
    report = estimate_plan(prod_plan, on=PRICED_ON)
    nodes = cost_of(report, "system-ng")
    by_name = {c.name: c for c in nodes.components}
    m6i = load_catalog().get("m6i.large").on_demand_hourly
    assert by_name["on-demand instance-hours"].monthly_quantity == 2 * 730, "two nodes, 730 h each"
    assert by_name["on-demand instance-hours"].monthly.expected == 2 * 730 * m6i, (
        "EKS launches on-demand types in the listed order: m6i.large first"
    )
    assert by_name["spot instance-hours"].monthly_quantity == 0, "no spot in prod"
    assert by_name["root volumes (gp3)"].monthly.expected == 2 * 30 * Decimal("0.08"), "2 x 30 GiB gp3 root volumes"
    assert nodes.monthly.expected.quantize(CENT) == Decimal("144.96"), "140.16 + 4.80"


def test_dev_system_node_is_one_spot_node_priced_like_a_spot_pool(dev_plan: Plan):
    report = estimate_plan(dev_plan, on=PRICED_ON)
    by_name = {c.name: c for c in cost_of(report, "system-ng").components}
    catalog = load_catalog()
    spot = sorted(
        catalog.get(t).on_demand_hourly * (100 - catalog.get(t).spot_saving_pct) / 100
        for t in ("t3.large", "m5.large", "m6a.large", "m6i.large")
    )
    assert by_name["spot instance-hours"].monthly_quantity == 730, "one node all month"
    assert by_name["spot instance-hours"].unit_price.expected == sum(spot[:3]) / 3, (
        "price-capacity-optimized: the mean of the three cheapest spot prices"
    )
    assert by_name["on-demand instance-hours"].monthly_quantity == 0, "capacity type SPOT: no on-demand hours"


def test_a_node_group_without_a_launch_template_prices_eks_default_disk_and_its_desired_size():
    group = resource(
        NODE_GROUP,
        "ng",
        {
            "instanceTypes": ["m6i.large"],
            "capacityType": "ON_DEMAND",
            "scalingConfig": {"minSize": 1, "desiredSize": 3, "maxSize": 5},
        },
    )
    report = estimate_plan(plan_of(group), on=PRICED_ON)
    by_name = {c.name: c for c in cost_of(report, "ng").components}
    assert by_name["on-demand instance-hours"].monthly_quantity == 3 * 730, "the desired size, not min or max"
    assert by_name["root volumes (gp3)"].monthly_quantity == 3 * 20, "EKS's 20 GiB default disk per node"
    assert report.complete, "fully priced"


def test_the_interruption_queue_prices_its_requests_and_a_usage_file_can_change_them(dev_plan: Plan):
    queue = resource("aws:sqs/queue:Queue", "q", {"sqsManagedSseEnabled": True})
    # EventBridge delivers into it and no Lambda consumes it: the termination handler long-polls it.
    target = resource("aws:cloudwatch/eventTarget:EventTarget", "t", {"arn": "queue-arn"})
    target = target.model_copy(update={"dependencies": [queue.urn]})
    default = estimate_plan(plan_of(queue, target), on=PRICED_ON)
    assert default.total.expected == Decimal("0.12"), "300,000 requests x $0.40 per million"
    alone = estimate_plan(plan_of(queue), on=PRICED_ON)
    assert alone.total.expected == Decimal("0.00"), "a queue nobody polls from the cluster: 10,000 requests, $0.004"
    busy = Usage(UsageFile(resources={"q": {"sqs_worker_poll_requests_per_month": Decimal(5_000_000)}}))
    busy_total = estimate_plan(plan_of(queue, target), usage=busy, on=PRICED_ON).total.expected
    assert busy_total == Decimal("2.00"), "5M x $0.40"
    component = cost_of(default, "q").components[0]
    assert "sqs/pricing" in component.source and component.as_of, "a sourced, dated price"


def test_rules_targets_add_ons_and_releases_are_free_with_a_reason(dev_plan: Plan):
    report = estimate_plan(dev_plan, on=PRICED_ON)
    for type_ in (
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:eks/addon:Addon",
        "aws:sqs/queuePolicy:QueuePolicy",
        "kubernetes:helm.sh/v3:Release",
    ):
        found = [r for r in report.resources if r.type == type_]
        assert found and all(r.status == "free" and r.note for r in found), f"{type_} is free, and says why"
    assert report.complete, "nothing in the dev stack is left unpriced"


def test_kubernetes_objects_a_real_preview_lists_under_a_config_group_are_free_not_unpriced():
    namespace = resource("kubernetes:core/v1:Namespace", "frugal-platform", {"metadata": {"name": "frugal-platform"}})
    report = estimate_plan(plan_of(namespace), on=PRICED_ON)
    assert cost_of(report, "frugal-platform").status == "free", "an in-cluster object runs on priced nodes"
    assert report.complete, "it does not make the preview incomplete"
