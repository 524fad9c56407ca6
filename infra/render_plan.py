"""`frugal plan` as a terminal table: resources as a tree under their components, with the inputs
that decide cost and safety for each type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.plan import Plan, PlannedResource
from infra.tokens import (
    AUTOSCALING_GROUP,
    AUTOSCALING_SCHEDULE,
    AWS_PROVIDER,
    BUDGETS_BUDGET,
    CLOUDWATCH_EVENT_RULE,
    CLOUDWATCH_LOG_GROUP,
    CLOUDWATCH_METRIC_ALARM,
    COSTEXPLORER_ANOMALY_SUBSCRIPTION,
    EC2_LAUNCH_TEMPLATE,
    EC2_SUBNET,
    EC2_VPC,
    EKS_ADDON,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    ELASTICACHE_REPLICATION_GROUP,
    KMS_KEY,
    KUBERNETES_CONFIG_GROUP,
    KUBERNETES_HELM_RELEASE,
    KUBERNETES_PROVIDER,
    SNS_TOPIC,
    SNS_TOPIC_SUBSCRIPTION,
    SQS_QUEUE,
)


def _asg(i: dict[str, Any]) -> str:
    mip = i.get("mixedInstancesPolicy", {})
    dist = mip.get("instancesDistribution", {})
    overrides = mip.get("launchTemplate", {}).get("overrides", [])
    return (
        f"size {i.get('minSize')}/{i.get('desiredCapacity')}/{i.get('maxSize')} (min/desired/max); "
        f"on-demand base {dist.get('onDemandBaseCapacity')} + {dist.get('onDemandPercentageAboveBaseCapacity')}% "
        f"above; spot {dist.get('spotAllocationStrategy')}; {len(overrides)} types "
        f"({', '.join(o.get('instanceType', '?') for o in overrides[:3])}{', ...' if len(overrides) > 3 else ''}); "
        f"capacity rebalance {i.get('capacityRebalance')}"
    )


def _launch_template(i: dict[str, Any]) -> str:
    meta = i.get("metadataOptions", {})
    ebs = (i.get("blockDeviceMappings") or [{}])[0].get("ebs", {})
    return (
        f"IMDS tokens {meta.get('httpTokens')} hop {meta.get('httpPutResponseHopLimit')}; root "
        f"{ebs.get('volumeSize')} GiB {ebs.get('volumeType')} encrypted={ebs.get('encrypted')}"
    )


def _schedule(i: dict[str, Any]) -> str:
    return (
        f"'{i.get('recurrence')}' {i.get('timeZone')}: min {i.get('minSize')} max {i.get('maxSize')} "
        f"desired {i.get('desiredCapacity')} (-1 = unchanged)"
    )


def _budget(i: dict[str, Any]) -> str:
    notes = i.get("notifications", [])
    kinds = ", ".join(f"{n.get('notificationType')} {n.get('threshold')}%" for n in notes)
    return f"{i.get('limitAmount')} {i.get('limitUnit')}/{i.get('timeUnit')}; alerts: {kinds}"


def _cluster(i: dict[str, Any]) -> str:
    vpc = i.get("vpcConfig", {})
    return (
        f"k8s {i.get('version')}; public endpoint from {', '.join(vpc.get('publicAccessCidrs', []))}; "
        f"secrets encrypted: {bool(i.get('encryptionConfig'))}; logs: {', '.join(i.get('enabledClusterLogTypes', []))}"
    )


def _node_group(i: dict[str, Any]) -> str:
    scaling = i.get("scalingConfig", {})
    return (
        f"{i.get('capacityType')} {', '.join(i.get('instanceTypes', []))}; size {scaling.get('minSize')}/"
        f"{scaling.get('desiredSize')}/{scaling.get('maxSize')} (min/desired/max); labels {i.get('labels')}"
    )


def _release(i: dict[str, Any]) -> str:
    repo = i.get("repositoryOpts", {}).get("repo")
    return f"chart {i.get('chart')} {i.get('version')}{f' from {repo}' if repo else ''} into {i.get('namespace')}"


def _config_group(i: dict[str, Any]) -> str:
    objs = i.get("objs") or []
    return ", ".join(f"{o.get('kind')}/{o.get('metadata', {}).get('name')}" for o in objs if isinstance(o, dict))


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    EKS_NODE_GROUP: _node_group,
    EKS_ADDON: lambda i: f"{i.get('addonName')} {i.get('addonVersion')}",
    KUBERNETES_HELM_RELEASE: _release,
    KUBERNETES_CONFIG_GROUP: _config_group,
    SQS_QUEUE: lambda i: f"SSE-SQS {i.get('sqsManagedSseEnabled')}; retention {i.get('messageRetentionSeconds')} s",
    CLOUDWATCH_EVENT_RULE: lambda i: _short(i.get("eventPattern", ""), 100),
    KUBERNETES_PROVIDER: lambda i: "kubeconfig from the cluster's outputs, `aws eks get-token` exec auth",
    AUTOSCALING_GROUP: _asg,
    EC2_LAUNCH_TEMPLATE: _launch_template,
    AUTOSCALING_SCHEDULE: _schedule,
    BUDGETS_BUDGET: _budget,
    EKS_CLUSTER: _cluster,
    EC2_VPC: lambda i: f"{i.get('cidrBlock')}",
    EC2_SUBNET: lambda i: f"{i.get('cidrBlock')} in {i.get('availabilityZone')}",
    SNS_TOPIC: lambda i: f"KMS {'on' if i.get('kmsMasterKeyId') else 'OFF'}",
    SNS_TOPIC_SUBSCRIPTION: lambda i: f"{i.get('protocol')} {i.get('endpoint')}",
    CLOUDWATCH_METRIC_ALARM: lambda i: f"{i.get('namespace')} {i.get('metricName')} > {i.get('threshold')}",
    COSTEXPLORER_ANOMALY_SUBSCRIPTION: lambda i: (
        f"{i.get('frequency')}; impact >= {i.get('thresholdExpression', {}).get('dimension', {}).get('values')}"
    ),
    AWS_PROVIDER: lambda i: f"region {i.get('region')}",
    ELASTICACHE_REPLICATION_GROUP: lambda i: (
        f"{i.get('engine')} {i.get('engineVersion')} {i.get('numCacheClusters')} x {i.get('nodeType')}; "
        f"encrypted at rest {i.get('atRestEncryptionEnabled')}, in transit {i.get('transitEncryptionEnabled')}"
    ),
    KMS_KEY: lambda i: f"rotation {i.get('enableKeyRotation')}; {_short(i.get('description', ''))}",
    CLOUDWATCH_LOG_GROUP: lambda i: f"{i.get('name')} kept {i.get('retentionInDays')} days",
}


def summarize(resource: PlannedResource) -> str:
    summary = SUMMARIES.get(resource.type)
    if summary is not None:
        return summary(resource.inputs)
    scalars = [
        f"{k}={_short(v)}"
        for k, v in resource.inputs.items()
        if isinstance(v, str | int | float | bool) and k not in ("__defaults", "policy", "assumeRolePolicy")
    ]
    return "; ".join(scalars[:3])


def _short(value: object, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ordered_tree(plan: Plan) -> list[tuple[int, PlannedResource]]:
    """Resources depth-first under their parents, with their depth."""
    children: dict[str | None, list[PlannedResource]] = {}
    urns = {r.urn for r in plan.resources}
    for r in plan.resources:
        children.setdefault(r.parent if r.parent in urns else None, []).append(r)
    out: list[tuple[int, PlannedResource]] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda x: (x.custom, x.type, x.name)):
            out.append((depth, r))
            walk(r.urn, depth + 1)

    walk(None, 0)
    return out


def plan_table(plan: Plan, console: Console | None = None) -> None:
    # Piped output (CI logs, `| less`) gets a readable width instead of rich's 80-column default.
    console = console or Console(width=None if Console().is_terminal else 160)
    table = Table(title=f"{plan.project}/{plan.stack}: {len(plan.resources)} resources ({plan.source} plan)")
    table.add_column("resource", max_width=44)
    table.add_column("type", no_wrap=True)
    table.add_column("what matters", ratio=1)
    for depth, r in ordered_tree(plan):
        short = r.type.split(":")[-1] if r.custom else r.type
        table.add_row("  " * depth + r.name, short, summarize(r))
    console.print(table)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print("Offline run: ids and ARNs ending in '-offline' are placeholders; no cloud API was called.")
