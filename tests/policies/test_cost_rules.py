"""Cost rules over single resources, each called with the SDK's real ResourceValidationArgs.

The passing cases are the dev/prod stacks' own resources (from the offline plan); the failing cases
are the same resources with one input changed, so each test isolates one rule's judgement.
"""

from __future__ import annotations

import pytest

from infra.plan import Plan
from policies import cost_rules
from tests.fakes import DELETE, Violations, one, planned, resource_args

ASG = "aws:autoscaling/group:Group"
MIP = "mixedInstancesPolicy"
DIST = f"{MIP}.instancesDistribution"


def run(rule, args) -> Violations:
    found = Violations()
    rule(args, found)
    return found


@pytest.fixture
def dev_asg(dev_plan: Plan):
    return one(dev_plan, ASG)


def test_the_dev_gpu_group_passes_every_cost_rule(dev_plan: Plan, dev_asg) -> None:
    args = resource_args(dev_asg, dev_plan)
    for rule in (
        cost_rules.gpu_asg_mixed_instances,
        cost_rules.spot_allocation_strategy,
        cost_rules.on_demand_share,
        cost_rules.spot_instance_diversity,
        cost_rules.capacity_rebalance,
        cost_rules.asg_max_size,
        cost_rules.gpu_instance_families,
        cost_rules.cost_allocation_tags,
    ):
        assert run(rule, args) == [], f"{rule.__name__} must accept the dev stack's GPU group"


def test_a_gpu_group_without_a_mixed_instances_policy_is_a_violation(dev_plan: Plan, dev_asg) -> None:
    args = resource_args(dev_asg, dev_plan, **{MIP: DELETE, "launchTemplate": {"id": "lt-1", "version": "1"}})
    found = run(cost_rules.gpu_asg_mixed_instances, args)
    assert len(found) == 1, "a GPU group on one launch template must be reported once"
    assert "launchTemplate with no mixedInstancesPolicy" in found.text(), "the message names what the group uses"
    assert "fix:" in found.text() and "limit:" in found.text(), "every message states the limit and the fix"


def test_lowest_price_spot_allocation_is_a_violation(dev_plan: Plan, dev_asg) -> None:
    found = run(
        cost_rules.spot_allocation_strategy,
        resource_args(dev_asg, dev_plan, **{f"{DIST}.spotAllocationStrategy": "lowest-price"}),
    )
    assert "allocates spot with 'lowest-price'" in found.text(), "the offending strategy is quoted"
    assert "price-capacity-optimized" in found.text(), "the fix names the recommended strategy"


def test_an_unset_spot_strategy_counts_as_aws_default_lowest_price(dev_plan: Plan, dev_asg) -> None:
    found = run(
        cost_rules.spot_allocation_strategy,
        resource_args(dev_asg, dev_plan, **{f"{DIST}.spotAllocationStrategy": DELETE}),
    )
    assert "unset, so AWS uses lowest-price" in found.text(), "an unset strategy is AWS's lowest-price default"


def test_an_all_on_demand_group_is_not_judged_on_its_spot_strategy(dev_plan: Plan, dev_asg) -> None:
    args = resource_args(
        dev_asg,
        dev_plan,
        **{f"{DIST}.spotAllocationStrategy": "lowest-price", f"{DIST}.onDemandPercentageAboveBaseCapacity": 100},
    )
    assert run(cost_rules.spot_allocation_strategy, args) == [], "no spot capacity, no spot strategy to judge"


def test_on_demand_above_base_in_dev_is_a_violation_and_names_the_limit(dev_plan: Plan, dev_asg) -> None:
    found = run(
        cost_rules.on_demand_share,
        resource_args(dev_asg, dev_plan, **{f"{DIST}.onDemandPercentageAboveBaseCapacity": 25}),
    )
    assert "runs 25% on-demand above its base" in found.text(), "the offending percentage is stated"
    assert "at most 0% in 'dev'" in found.text(), "non-prod allows no on-demand above the base by default"


def test_prod_groups_may_run_half_on_demand_above_base(prod_plan: Plan) -> None:
    large = one(prod_plan, ASG, "pool-large-asg")
    assert run(cost_rules.on_demand_share, resource_args(large, prod_plan)) == [], "prod's 50% is within the limit"
    found = run(
        cost_rules.on_demand_share,
        resource_args(large, prod_plan, **{f"{DIST}.onDemandPercentageAboveBaseCapacity": 80}),
    )
    assert "at most 50% in 'prod'" in found.text(), "80% above base exceeds prod's 50%"


def test_the_pack_config_can_set_the_environment_and_the_limit(dev_plan: Plan, dev_asg) -> None:
    config = {"environment": "prod", "maxOnDemandPercentAboveBase": {"prod": 20, "default": 0}}
    found = run(
        cost_rules.on_demand_share,
        resource_args(dev_asg, dev_plan, config, **{f"{DIST}.onDemandPercentageAboveBaseCapacity": 25}),
    )
    assert "at most 20% in 'prod'" in found.text(), "config overrides both the environment and the threshold"


def test_an_unset_on_demand_percentage_is_aws_default_one_hundred(dev_plan: Plan, dev_asg) -> None:
    found = run(
        cost_rules.on_demand_share,
        resource_args(dev_asg, dev_plan, **{f"{DIST}.onDemandPercentageAboveBaseCapacity": DELETE}),
    )
    assert "100% on-demand above its base (unset, so AWS uses 100)" in found.text(), "AWS's default is 100%"


def test_spot_on_one_instance_type_is_a_violation(dev_plan: Plan, dev_asg) -> None:
    found = run(
        cost_rules.spot_instance_diversity,
        resource_args(dev_asg, dev_plan, **{f"{MIP}.launchTemplate.overrides": [{"instanceType": "g5.xlarge"}]}),
    )
    assert "runs spot on 1 instance type(s) (g5.xlarge)" in found.text(), "the types in use are listed"
    assert "at least 5 types in 'dev'" in found.text(), "the non-prod minimum is stated"


def test_capacity_rebalance_off_is_a_violation(dev_plan: Plan, dev_asg) -> None:
    found = run(cost_rules.capacity_rebalance, resource_args(dev_asg, dev_plan, capacityRebalance=False))
    assert "capacityRebalance=False" in found.text(), "the offending value is shown"


def test_a_max_size_above_the_environment_cap_is_a_violation(dev_plan: Plan, dev_asg) -> None:
    found = run(cost_rules.asg_max_size, resource_args(dev_asg, dev_plan, maxSize=10))
    assert "maxSize=10 in environment 'dev'" in found.text(), "the offending size and environment are stated"
    assert "maxSize <= 4 in 'dev'" in found.text(), "the dev cap is stated"


def test_gpu_types_outside_the_allowed_families_are_a_violation(dev_plan: Plan, dev_asg) -> None:
    overrides = [{"instanceType": t} for t in ("g5.xlarge", "p3.2xlarge", "g4ad.xlarge")]
    found = run(
        cost_rules.gpu_instance_families,
        resource_args(dev_asg, dev_plan, **{f"{MIP}.launchTemplate.overrides": overrides}),
    )
    assert "g4ad.xlarge, p3.2xlarge" in found.text(), "both off-list types are named, the allowed one is not"


def test_a_launch_template_is_judged_only_when_it_names_a_gpu_type() -> None:
    gpu = planned("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"instanceType": "g3.4xlarge"})
    cpu = planned("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"instanceType": "m5.large"})
    assert "g3.4xlarge" in run(cost_rules.gpu_instance_families, resource_args(gpu)).text(), "old GPU family flagged"
    assert run(cost_rules.gpu_instance_families, resource_args(cpu)) == [], "CPU templates are out of scope"


def test_a_taggable_resource_missing_a_cost_allocation_tag_is_a_violation(dev_plan: Plan) -> None:
    vpc = one(dev_plan, "aws:ec2/vpc:Vpc")
    assert run(cost_rules.cost_allocation_tags, resource_args(vpc, dev_plan)) == [], "the dev VPC is fully tagged"
    found = run(cost_rules.cost_allocation_tags, resource_args(vpc, dev_plan, **{"tags.owner": DELETE}))
    assert "lacks tag(s) owner" in found.text(), "the missing key is named"


def test_provider_default_tags_count_as_the_resources_tags(dev_plan: Plan) -> None:
    tags = dict(one(dev_plan, "aws:ec2/vpc:Vpc").inputs["tags"])
    provider = planned("pulumi:providers:aws", "tagged", {"region": "us-east-1", "defaultTags": {"tags": tags}})
    bucket = planned("aws:s3/bucket:Bucket", "b", {}, provider=provider.urn)
    plan = Plan(project="frugal-llm", stack="dev", source="offline", resources=[provider, bucket])
    assert run(cost_rules.cost_allocation_tags, resource_args(bucket, plan)) == [], "default_tags tag the bucket"


def test_resource_types_that_take_no_tags_are_not_judged() -> None:
    attachment = planned("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", {"role": "r", "policyArn": "x"})
    assert run(cost_rules.cost_allocation_tags, resource_args(attachment)) == [], "no tags argument, no tag rule"


def test_a_group_that_does_not_copy_its_tags_to_instances_is_a_violation(dev_plan: Plan, dev_asg) -> None:
    tags = [dict(t, propagateAtLaunch=False) for t in dev_asg.inputs["tags"]]
    found = run(cost_rules.cost_allocation_tags, resource_args(dev_asg, dev_plan, tags=tags))
    assert "does not copy tag(s) project, environment" in found.text(), "unpropagated cost tags are named"
