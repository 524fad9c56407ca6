"""Stack rules over whole plans, each called with the SDK's real StackValidationArgs.

The dev/prod plans come from the offline run with their recorded property dependencies (which
input came from which resource), as the engine passes them; failing cases remove or add resources.
"""

from __future__ import annotations

import json

import pytest
from pulumi_policy.policy import _NotApplicableError

from infra.plan import Plan, PlannedResource
from policies import stack_rules
from tests.fakes import Violations, changed, one, planned, stack_args

BUDGET = "aws:budgets/budget:Budget"
ROLE = "aws:iam/role:Role"


def run(rule, args) -> Violations:
    found = Violations()
    rule(args, found)
    return found


def without(plan: Plan, *types: str) -> Plan:
    return plan.model_copy(update={"resources": [r for r in plan.resources if r.type not in types]})


def adding(plan: Plan, *resources: PlannedResource) -> Plan:
    return plan.model_copy(update={"resources": [*plan.resources, *resources]})


def replacing(plan: Plan, resource: PlannedResource, **changes: object) -> Plan:
    new = resource.model_copy(update={"inputs": changed(resource.inputs, changes)})
    return plan.model_copy(update={"resources": [new if r.urn == resource.urn else r for r in plan.resources]})


def test_the_dev_and_prod_budgets_have_actual_and_forecasted_alerts(any_plan: Plan) -> None:
    assert run(stack_rules.budget_with_alerts, stack_args(any_plan)) == [], "the stack's own budget is complete"


def test_a_stack_without_a_budget_is_a_violation(dev_plan: Plan) -> None:
    found = run(stack_rules.budget_with_alerts, stack_args(without(dev_plan, BUDGET)))
    assert "declares no aws.budgets.Budget" in found.text(), "a missing budget is reported"
    assert found[0][1] is None, "a missing budget belongs to the stack, not to a resource"


def test_a_budget_without_a_forecasted_alert_is_a_violation(dev_plan: Plan) -> None:
    budget = one(dev_plan, BUDGET)
    actual_only = [n for n in budget.inputs["notifications"] if n["notificationType"] == "ACTUAL"]
    found = run(stack_rules.budget_with_alerts, stack_args(replacing(dev_plan, budget, notifications=actual_only)))
    assert "budget 'budget-monthly': no FORECASTED notification" in found.text(), "the missing kind is named"
    assert found[0][1] == budget.urn, "the violation points at the budget"


def test_alerts_to_a_topic_nobody_subscribed_to_reach_no_one(dev_plan: Plan) -> None:
    budget = one(dev_plan, BUDGET)
    topic_only = [{**n, "subscriberEmailAddresses": []} for n in budget.inputs["notifications"]]
    plan = replacing(dev_plan, budget, notifications=topic_only)
    assert run(stack_rules.budget_with_alerts, stack_args(plan)) == [], "the topic has an e-mail subscription"
    unsubscribed = without(plan, "aws:sns/topicSubscription:TopicSubscription")
    found = run(stack_rules.budget_with_alerts, stack_args(unsubscribed))
    assert "ACTUAL notifications reach no subscriber" in found.text(), "an unsubscribed topic reaches no one"


def test_dev_gpu_groups_have_an_off_hours_schedule(dev_plan: Plan) -> None:
    assert run(stack_rules.non_prod_off_hours, stack_args(dev_plan)) == [], "dev scales to zero at night"


def test_prod_is_exempt_from_the_off_hours_rule(prod_plan: Plan) -> None:
    with pytest.raises(_NotApplicableError) as raised:
        stack_rules.non_prod_off_hours(stack_args(prod_plan), Violations())
    assert "'prod' is production" in raised.value.reason, "the reason names the environment"


def test_a_dev_gpu_group_running_around_the_clock_is_a_violation(dev_plan: Plan) -> None:
    found = run(stack_rules.non_prod_off_hours, stack_args(without(dev_plan, "aws:autoscaling/schedule:Schedule")))
    assert "GPU group 'pool-small-asg' in environment 'dev' has 0 scheduled action(s)" in found.text(), (
        "the group and environment are named"
    )


def test_a_schedule_that_never_reaches_zero_does_not_count(dev_plan: Plan) -> None:
    plan = dev_plan
    for schedule in [r for r in dev_plan.resources if r.type == "aws:autoscaling/schedule:Schedule"]:
        plan = replacing(plan, schedule, desiredCapacity=1)
    found = run(stack_rules.non_prod_off_hours, stack_args(plan))
    assert "has 3 scheduled action(s), none recurring with desiredCapacity 0" in found.text(), (
        "schedules that keep a node up are not off-hours schedules"
    )


def node_role(plan: Plan) -> PlannedResource:
    return next(r for r in plan.resources if r.type == ROLE and "ec2.amazonaws.com" in r.inputs["assumeRolePolicy"])


def test_the_node_role_attaches_only_vetted_policies(any_plan: Plan) -> None:
    assert run(stack_rules.node_role_least_privilege, stack_args(any_plan)) == [], "the three EKS node policies"


def test_a_wildcard_inline_policy_on_the_node_role_is_a_violation(dev_plan: Plan) -> None:
    role = node_role(dev_plan)
    document = json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:*", "ec2:DescribeInstances"]}]})
    wide = planned(
        "aws:iam/rolePolicy:RolePolicy",
        "node-s3",
        {"role": "cluster-node-offline", "policy": document},
        property_dependencies={"role": [role.urn]},
    )
    found = run(stack_rules.node_role_least_privilege, stack_args(adding(dev_plan, wide)))
    assert "role policy 'node-s3' allows ['s3:*']" in found.text(), "only the wildcard action is named"
    assert found[0][1] == wide.urn, "the violation points at the policy resource"


def test_attaching_administrator_access_to_the_node_role_is_a_violation(dev_plan: Plan) -> None:
    role = node_role(dev_plan)
    admin = planned(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "node-admin",
        {"role": "cluster-node-offline", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        property_dependencies={"role": [role.urn]},
    )
    found = run(stack_rules.node_role_least_privilege, stack_args(adding(dev_plan, admin)))
    assert "attaches arn:aws:iam::aws:policy/AdministratorAccess" in found.text(), "the unvetted ARN is named"


def test_s3_rules_do_not_apply_to_a_stack_without_buckets(dev_plan: Plan) -> None:
    without_buckets = dev_plan.model_copy(
        update={"resources": [r for r in dev_plan.resources if not r.type.startswith("aws:s3/")]}
    )
    with pytest.raises(_NotApplicableError) as raised:
        stack_rules.s3_public_access_blocked(stack_args(without_buckets), Violations())
    assert raised.value.reason == "no S3 buckets in this stack", "the rule says why it does not apply"


def bucket_with_block(**flags: bool) -> Plan:
    bucket = planned("aws:s3/bucket:Bucket", "models", {"bucket": "frugal-models"})
    settings = {f: True for f in stack_rules.BLOCK_FLAGS} | flags
    block = planned(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "models",
        {"bucket": "<unknown>", **settings},
        property_dependencies={"bucket": [bucket.urn]},
    )
    return Plan(project="frugal-llm", stack="dev", source="pulumi-preview", resources=[bucket, block])


def test_a_bucket_with_a_full_public_access_block_passes() -> None:
    assert run(stack_rules.s3_public_access_blocked, stack_args(bucket_with_block())) == [], "all four flags on"


def test_a_bucket_without_or_with_a_partial_public_access_block_is_a_violation() -> None:
    partial = run(stack_rules.s3_public_access_blocked, stack_args(bucket_with_block(blockPublicPolicy=False)))
    assert "blockPublicPolicy not true" in partial.text(), "the flag left off is named"
    bare = bucket_with_block().model_copy(update={"resources": bucket_with_block().resources[:1]})
    assert "has no BucketPublicAccessBlock" in run(stack_rules.s3_public_access_blocked, stack_args(bare)).text(), (
        "a bucket with no block at all is reported"
    )
