"""Rules over the whole stack: budget and alerts, off-hours schedules, expected cost against the
budget, the node role's permissions, S3 public access blocks.

Plain `validate(args, report_violation)` functions over `pulumi_policy.StackValidationArgs`. They
link resources through the engine's property dependencies (which input came from which resource),
falling back to comparing known names, so they work in a preview where ids are not known yet.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from infra.cost import expected_monthly_cost
from infra.cost.budget import budget_check, stack_budget
from infra.tokens import (
    AUTOSCALING_GROUP,
    AUTOSCALING_SCHEDULE,
    BUDGETS_BUDGET,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    S3_BUCKET,
    S3_BUCKET_PUBLIC_ACCESS_BLOCK,
    S3_BUCKET_V2,
    SNS_TOPIC,
    SNS_TOPIC_SUBSCRIPTION,
)
from policies.adapter import plan_from_stack
from policies.cost_rules import ENVIRONMENT
from policies.props import (
    get,
    is_gpu_asg,
    is_list,
    is_map,
    items,
    known,
    message,
    number,
    settings,
    show,
    stack_environment,
)

BUCKETS = (S3_BUCKET, S3_BUCKET_V2)
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

OFF_HOURS_CONFIG: dict[str, dict[str, Any]] = {
    "prodEnvironments": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["prod"],
        "description": "environments that may run around the clock",
    },
    "environment": ENVIRONMENT,
}
COST_CONFIG: dict[str, dict[str, Any]] = {
    "maxBudgetPercent": {
        "type": "number",
        "minimum": 1,
        "default": 100,
        "description": "the expected monthly cost may reach this percentage of the budget",
    }
}
NODE_ROLE_CONFIG: dict[str, dict[str, Any]] = {
    "nodeServicePrincipals": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["ec2.amazonaws.com"],
        "description": "a role trusted by these services is a node role",
    },
    "allowedManagedPolicies": {
        "type": "array",
        "items": {"type": "string"},
        "default": [
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
        ],
        "description": "policies a node role may attach without this stack declaring their document",
    },
}


def _of_type(args: StackValidationArgs, *types: str) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type in types]


def _linked(resource: PolicyResource, prop: str, target: PolicyResource, *target_keys: str) -> bool:
    """Whether `resource`'s input `prop` refers to `target`: by dependency, else by an equal known value."""
    if any(dep.urn == target.urn for dep in resource.property_dependencies.get(prop, [])):
        return True
    is_known, value = known(resource.props, prop)
    if not is_known or not isinstance(value, str):
        return False
    return any(value == known(target.props, key)[1] for key in target_keys)


def _subscribed(topic: PolicyResource, args: StackValidationArgs) -> bool:
    return any(_linked(s, "topic", topic, "arn") for s in _of_type(args, SNS_TOPIC_SUBSCRIPTION))


def _reaches_subscriber(note: Any, budget: PolicyResource, args: StackValidationArgs) -> bool:
    if len(items(get(note, "subscriberEmailAddresses", default=[]))) > 0:
        return True
    is_known, arns = known(note, "subscriberSnsTopicArns")
    if is_known and (not is_list(arns) or len(arns) == 0):
        return False
    topics = [d for d in budget.property_dependencies.get("notifications", []) if d.resource_type == SNS_TOPIC]
    topics += [t for t in _of_type(args, SNS_TOPIC) if is_known and known(t.props, "arn")[1] in items(arns)]
    # A topic this stack does not declare cannot be checked here; its owner answers for its subscribers.
    return not topics or any(_subscribed(t, args) for t in topics)


def budget_with_alerts(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The stack has a budget with at least one ACTUAL and one FORECASTED notification that reaches someone."""
    budgets = _of_type(args, BUDGETS_BUDGET)
    if not budgets:
        report_violation(
            message(
                "budget-with-alerts",
                "the stack declares no aws.budgets.Budget",
                "one monthly COST budget with an ACTUAL and a FORECASTED notification",
                "set budget: {monthly_limit_usd, subscribers, ...} in Pulumi.<stack>.yaml (frugal's BudgetAlarms "
                "creates the budget, an encrypted topic and the subscriptions)",
            ),
            None,
        )
        return
    findings: list[tuple[PolicyResource, list[str]]] = []
    for budget in budgets:
        notes = items(get(budget.props, "notifications", default=[]))
        missing = []
        for kind in ("ACTUAL", "FORECASTED"):
            of_kind = [n for n in notes if get(n, "notificationType") == kind]
            if not of_kind:
                missing.append(f"no {kind} notification")
            elif not any(_reaches_subscriber(n, budget, args) for n in of_kind):
                missing.append(f"its {kind} notifications reach no subscriber (no e-mail, no subscribed topic)")
        if not missing:
            return  # one complete budget is enough
        findings.append((budget, missing))
    for budget, missing in findings:
        report_violation(
            message(
                "budget-with-alerts",
                f"budget '{budget.name}': {'; '.join(missing)}",
                "at least one ACTUAL and one FORECASTED notification, each with an e-mail or a subscribed SNS topic",
                "add the missing notifications (frugal: budget.actual_thresholds_pct, "
                "budget.forecasted_thresholds_pct, budget.subscribers)",
            ),
            budget.urn,
        )


def _scales_to_zero(schedule: PolicyResource) -> bool:
    props = schedule.props
    if not get(props, "recurrence"):
        return False
    return number(get(props, "desiredCapacity")) == 0 or number(get(props, "maxSize")) == 0


def non_prod_off_hours(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Outside production, every GPU group has a recurring scheduled action that scales it to zero."""
    cfg = settings(args.get_config(), OFF_HOURS_CONFIG)
    env = stack_environment(cfg, [r.props for r in args.resources], args.stack_tags)
    if env in cfg["prodEnvironments"]:
        args.not_applicable(f"environment '{env}' is production (config prodEnvironments)")
    schedules = _of_type(args, AUTOSCALING_SCHEDULE)
    for group in _of_type(args, AUTOSCALING_GROUP):
        if not is_gpu_asg(group.props) or number(get(group.props, "maxSize")) == 0:
            continue
        targeting = [s for s in schedules if _linked(s, "autoscalingGroupName", group, "name")]
        if not any(_scales_to_zero(s) for s in targeting):
            report_violation(
                message(
                    "non-prod-off-hours",
                    f"GPU group '{group.name}' in environment '{env}' has {len(targeting)} scheduled action(s), "
                    "none recurring with desiredCapacity 0",
                    "a recurring off-hours action scaling every non-prod GPU group to zero",
                    "add a schedule period with capacity {<pool>: {min: 0, desired: 0}} for nights and weekends "
                    "(frugal: schedule.periods in Pulumi.<stack>.yaml)",
                ),
                group.urn,
            )


def expected_cost_within_budget(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The cost model's expected monthly cost of the stack is within the stack's budget.

    The budget that counts and the comparison are the cost model's (`infra.cost.budget`): the
    smallest monthly USD budget, the same one `frugal preview --fail-above-budget` gates on.
    """
    cfg = settings(args.get_config(), COST_CONFIG)
    plan = plan_from_stack(args) if args.resources else None
    budget = stack_budget(plan) if plan is not None else None
    if plan is None or budget is None:
        args.not_applicable("no monthly USD budget with a known limit to compare with (see budget-with-alerts)")
        return
    limit = budget.limit_usd
    cost = expected_monthly_cost(plan)
    ceiling = (limit * Decimal(str(cfg["maxBudgetPercent"])) / 100).quantize(Decimal("0.01"))
    verdict = budget_check(cost, ceiling)
    if verdict == "unknown" or cost is None:
        args.not_applicable("the cost model cannot price this plan (see `frugal preview`)")
        return
    if verdict == "over":
        share = "" if ceiling == limit else f" ({show(cfg['maxBudgetPercent'])}% of {limit})"
        report_violation(
            message(
                "expected-cost-within-budget",
                f"the expected monthly cost is ${cost:,.2f}, above budget '{budget.name}' of ${limit:,.2f} "
                "(the cost model's expected value; `frugal preview` shows its low-high range and assumptions)",
                f"at most ${ceiling:,.2f}{share} (config maxBudgetPercent)",
                "lower pools[].max_size/desired_capacity, scale down off-peak (schedule.periods), shift to spot "
                "(on_demand_percentage_above_base), or raise budget.monthly_limit_usd if the spend is intended",
            ),
            budget.urn,
        )


def _document(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if is_map(value) else None


def _statements(document: Any) -> list[Any]:
    doc = _document(document)
    if doc is None:
        return []
    statements = doc.get("Statement", [])
    return list(statements) if is_list(statements) else [statements]


def _as_list(value: Any) -> list[Any]:
    return list(value) if is_list(value) else [value] if value is not None else []


def _trusts(role: PolicyResource, principals: list[str]) -> bool:
    for statement in _statements(known(role.props, "assumeRolePolicy")[1]):
        principal = statement.get("Principal", {}) if is_map(statement) else {}
        services = _as_list(principal.get("Service")) if is_map(principal) else []
        if any(s in principals for s in services):
            return True
    return False


def _wildcards(document: Any) -> list[str]:
    found = []
    for statement in _statements(document):
        if not is_map(statement) or statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            found.append(f"NotAction {_as_list(statement['NotAction'])}")
        found += [a for a in _as_list(statement.get("Action")) if isinstance(a, str) and "*" in a]
    return found


def _node_role_findings(role: PolicyResource, args: StackValidationArgs, allowed: list[str]) -> list[tuple[str, str]]:
    """(resource urn, finding) for every wildcard grant or unvetted policy reaching the node role."""
    findings: list[tuple[str, str]] = []
    for policy in items(get(role.props, "inlinePolicies", default=[])):
        if wild := _wildcards(known(policy, "policy")[1]):
            findings.append((role.urn, f"inline policy {get(policy, 'name', default='')!r} allows {wild}"))
    for rp in _of_type(args, IAM_ROLE_POLICY):
        if _linked(rp, "role", role, "name", "id") and (wild := _wildcards(known(rp.props, "policy")[1])):
            findings.append((rp.urn, f"role policy '{rp.name}' allows {wild}"))
    arns: list[tuple[str, Any, PolicyResource | None]] = [
        (role.urn, a, None) for a in items(get(role.props, "managedPolicyArns", default=[]))
    ]
    for att in _of_type(args, IAM_ROLE_POLICY_ATTACHMENT):
        if _linked(att, "role", role, "name", "id"):
            arns.append((att.urn, known(att.props, "policyArn")[1], att))
    for urn, arn, attachment in arns:
        if isinstance(arn, str) and arn in allowed:
            continue
        declared = (
            [p for p in _of_type(args, IAM_POLICY) if _linked(attachment, "policyArn", p, "arn")]
            if attachment is not None
            else []
        )
        if declared:
            for p in declared:
                if wild := _wildcards(known(p.props, "policy")[1]):
                    findings.append((p.urn, f"managed policy '{p.name}' allows {wild}"))
        else:
            findings.append((urn, f"attaches {arn or 'an unknown policy'}, which is neither allow-listed nor declared"))
    return findings


def node_role_least_privilege(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The node role grants no wildcard actions and attaches only vetted policies."""
    cfg = settings(args.get_config(), NODE_ROLE_CONFIG)
    roles = [r for r in _of_type(args, IAM_ROLE) if _trusts(r, list(cfg["nodeServicePrincipals"]))]
    if not roles:
        args.not_applicable(f"no IAM role trusted by {', '.join(cfg['nodeServicePrincipals'])}")
    for role in roles:
        for urn, finding in _node_role_findings(role, args, list(cfg["allowedManagedPolicies"])):
            report_violation(
                message(
                    "node-role-least-privilege",
                    f"node role '{role.name}': {finding}",
                    "explicit actions only (no '*' or 'service:*', no NotAction), attached policies from "
                    "allowedManagedPolicies or declared in this stack",
                    "name the actions the nodes need, or give pods their own IRSA/Pod Identity role instead "
                    "of widening the node role",
                ),
                urn,
            )


def s3_public_access_blocked(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every S3 bucket has a public access block with all four settings on, and no public ACL."""
    buckets = _of_type(args, *BUCKETS)
    if not buckets:
        args.not_applicable("no S3 buckets in this stack")
    blocks = _of_type(args, S3_BUCKET_PUBLIC_ACCESS_BLOCK)
    for bucket in buckets:
        mine = [b for b in blocks if _linked(b, "bucket", bucket, "bucket", "id")]
        off = sorted({f for b in mine for f in BLOCK_FLAGS if get(b.props, f) is not True})
        acl = get(bucket.props, "acl")
        problem = None
        if not mine:
            problem = "has no BucketPublicAccessBlock"
        elif off:
            problem = f"has a public access block with {', '.join(off)} not true"
        elif acl in ("public-read", "public-read-write"):
            problem = f"has acl={acl!r}"
        if problem:
            report_violation(
                message(
                    "s3-public-access-blocked",
                    f"bucket '{bucket.name}' {problem}",
                    f"an aws.s3.BucketPublicAccessBlock with {', '.join(BLOCK_FLAGS)} all true, and a private ACL",
                    "declare aws.s3.BucketPublicAccessBlock(bucket=bucket.id, block_public_acls=True, "
                    "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)",
                ),
                bucket.urn,
            )
