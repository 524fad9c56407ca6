"""Prices of the non-pool resources in a plan: fixed hourly items and usage-based items.

Pure. `price_resource` returns the resource's cost, or None for types that are not billed on their
own (FREE, with the reason) or are priced through another resource (launch templates and
scheduled actions are priced with their auto-scaling group). Any other type is "not priced": its
cost is unknown, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from infra.catalog import Catalog
from infra.cost.model import CostComponent, Range, ResourceCost
from infra.cost.node_groups import node_group_spec
from infra.cost.pools import price_pool
from infra.cost.prices import Price, eks_hourly, elasticache_node_hour, price
from infra.cost.usage import Usage
from infra.plan import Plan, PlannedResource
from infra.schedule import HOURS_PER_MONTH

DAYS_PER_MONTH = HOURS_PER_MONTH / 24

# Billed nothing on their own (AWS charges for them nothing, or only through what they configure).
FREE: dict[str, str] = {
    **{
        t: "IAM is free"
        for t in (
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/instanceProfile:InstanceProfile",
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
            "aws:iam/policy:Policy",
        )
    },
    **{
        t: "VPC plumbing is free"
        for t in (
            "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "aws:ec2/route:Route",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        )
    },
    "aws:ec2/launchTemplate:LaunchTemplate": "priced with its auto-scaling group (root volumes)",
    "aws:autoscaling/schedule:Schedule": "priced with its auto-scaling group (capacity by hour)",
    "aws:autoscaling/lifecycleHook:LifecycleHook": "free",
    "aws:budgets/budget:Budget": "budgets without actions are free (facts.md, AWS Budgets price list)",
    "aws:costexplorer/anomalyMonitor:AnomalyMonitor": "Cost Anomaly Detection is free",
    "aws:costexplorer/anomalySubscription:AnomalySubscription": "Cost Anomaly Detection is free",
    "aws:costexplorer/costAllocationTag:CostAllocationTag": "tag activation is free",
    "aws:sns/topic:Topic": "first 1M publishes and 1,000 e-mails a month are free; alert volume is far below",
    "aws:sns/topicPolicy:TopicPolicy": "free",
    "aws:sns/topicSubscription:TopicSubscription": "free (deliveries are billed to the topic)",
    "aws:lambda/permission:Permission": "free",
    "aws:eks/accessEntry:AccessEntry": "free",
    "aws:elasticache/subnetGroup:SubnetGroup": "free",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "free",
    "aws:s3/bucketNotification:BucketNotification": "free",
    "aws:s3/bucketPolicy:BucketPolicy": "free",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "free",
    "aws:eks/addon:Addon": "EKS add-ons are free; their pods run on priced nodes",
    "aws:sqs/queuePolicy:QueuePolicy": "free",
    # "Events published by AWS services are free" (https://aws.amazon.com/eventbridge/pricing/,
    # default event bus; not re-verified offline): the rules match only AWS service events.
    "aws:cloudwatch/eventRule:EventRule": "matches AWS service events only, which EventBridge delivers free",
    "aws:cloudwatch/eventTarget:EventTarget": "free (deliveries of AWS service events are free)",
}
# Whole providers whose resources are free: Kubernetes objects (Helm releases, namespaces, and the
# objects a real preview lists under a ConfigGroup) cost nothing themselves; they run on priced nodes.
FREE_PACKAGES: dict[str, str] = {"kubernetes": "in-cluster object: runs on the cluster's priced nodes"}
PRICED_ELSEWHERE = {"aws:autoscaling/group:Group"}


@dataclass
class Context:
    catalog: Catalog
    usage: Usage
    on: date
    warnings: list[str]
    assumptions: list[str]
    plan: Plan | None = None
    """The whole plan, for resources priced with another one (a node group with its launch template)."""


def num(value: Any, default: Decimal | None = None) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return default
    return default


def component(
    name: str, category: str, qty: Decimal, unit: str, item: Price, note: str | None = None, high: Price | None = None
) -> CostComponent:
    if item.usd is None:
        return CostComponent(
            name=name,
            category=category,
            monthly_quantity=qty,
            unit=unit,
            unit_price=Range.unknown(),
            monthly=Range.unknown(),
            source=item.source,
            as_of=item.as_of,
            note=note,
        )
    top = item.usd if high is None or high.usd is None else high.usd
    return CostComponent(
        name=name,
        category=category,
        monthly_quantity=qty,
        unit=unit,
        unit_price=Range(low=item.usd, expected=item.usd, high=top),
        monthly=Range(low=item.usd * qty, expected=item.usd * qty, high=top * qty),
        source=item.source,
        as_of=item.as_of,
        note=note,
    )


def _eks(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    version = r.inputs.get("version")
    item, why = eks_hourly(version if isinstance(version, str) else None, ctx.on)
    if why:
        ctx.warnings.append(f"{r.name}: {why}")
    return [component("control plane", "control-plane", HOURS_PER_MONTH, "cluster-hours", item, note=why)]


def _nat(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    gb, src = ctx.usage.get("nat_gateway_gb_per_month", r.name, r.urn)
    return [
        component("NAT gateway", "network", HOURS_PER_MONTH, "hours", price("nat.hour")),
        component("data processed", "network", gb, "GB", price("nat.gb"), note=f"usage: {src}"),
    ]


def _eip(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    return [component("public IPv4 address", "network", HOURS_PER_MONTH, "hours", price("public_ipv4.hour"))]


def _kms(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    rotates = bool(r.inputs.get("enableKeyRotation"))
    note = "high: after two automatic rotations a key bills $3/month" if rotates else None
    high = price("kms.rotated_key_month_max") if rotates else None
    return [component("customer managed key", "security", Decimal(1), "key-months", price("kms.key_month"), note, high)]


def _alarm(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    period = num(r.inputs.get("period"), Decimal(60))
    key = "cloudwatch.alarm_hr_month" if period < 60 else "cloudwatch.alarm_month"
    return [component("metric alarm", "monitoring", Decimal(1), "alarm-months", price(key))]


def _log_group(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    name = str(r.inputs.get("name") or r.name)
    key = "eks_log_ingestion_gb_per_month" if name.startswith("/aws/eks/") else "log_ingestion_gb_per_month"
    gb, src = ctx.usage.get(key, r.name, r.urn)
    retention = num(r.inputs.get("retentionInDays"))
    out = [component("log ingestion", "monitoring", gb, "GB", price("cloudwatch.logs_ingest_gb"), f"usage: {src}")]
    if retention is None or retention == 0:
        ctx.warnings.append(f"{r.name}: log group without retention keeps logs forever; storage priced at 12 months")
        stored, note = gb * 12, "no retention: 12 months of logs (grows without bound)"
    else:
        # Steady state: the group holds `retention` days of ingestion (uncompressed: an upper bound).
        stored, note = gb * retention / DAYS_PER_MONTH, f"steady state of {retention} days retention"
    out.append(
        component("log storage", "monitoring", stored, "GB-months", price("cloudwatch.logs_store_gb_month"), note)
    )
    return out


def _lambda(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    requests, src = ctx.usage.get("lambda_requests_per_month", r.name, r.urn)
    seconds, _ = ctx.usage.get("lambda_duration_seconds", r.name, r.urn)
    memory_gb = num(r.inputs.get("memorySize"), Decimal(128)) / 1024
    return [
        component(
            "requests",
            "compute-serverless",
            requests / 1_000_000,
            "1M requests",
            price("lambda.requests_million"),
            f"usage: {src}",
        ),
        component(
            "duration", "compute-serverless", requests * seconds * memory_gb, "GB-seconds", price("lambda.gb_second")
        ),
    ]


def _lb(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    kind = r.inputs.get("loadBalancerType", "application")
    units, src = ctx.usage.get("lb_capacity_units", r.name, r.urn)
    if kind == "application":
        return [
            component("application load balancer", "network", HOURS_PER_MONTH, "hours", price("alb.hour")),
            component(
                "load balancer capacity units",
                "network",
                units * HOURS_PER_MONTH,
                "LCU-hours",
                price("alb.lcu_hour"),
                f"usage: {src}",
            ),
        ]
    if kind == "network":
        return [
            component("network load balancer", "network", HOURS_PER_MONTH, "hours", price("nlb.hour")),
            component(
                "network LCUs",
                "network",
                units * HOURS_PER_MONTH,
                "NLCU-hours",
                price("nlb.nlcu_hour"),
                f"usage: {src}",
            ),
        ]
    unknown = Price(f"lb.{kind}", None, "USD per hour", "-", "-")
    ctx.warnings.append(f"{r.name}: load balancer type {kind!r} has no price in the catalog")
    return [component(f"{kind} load balancer", "network", HOURS_PER_MONTH, "hours", unknown)]


def _ebs(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    size = num(r.inputs.get("size"))
    vtype = r.inputs.get("type", "gp3")
    if size is None or vtype != "gp3":
        ctx.warnings.append(f"{r.name}: EBS volume of type {vtype!r}/size {size}: only sized gp3 volumes are priced")
        return [component("volume", "storage", size or Decimal(0), "GB-months", Price("ebs", None, "", "-", "-"))]
    return [component("gp3 volume", "storage", size, "GB-months", price("gp3.gb_month"))]


def _secret(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    return [component("secret", "security", Decimal(1), "secret-months", price("secretsmanager.secret_month"))]


def _cache_nodes(node_type: Any, count: Decimal, r: PlannedResource, ctx: Context) -> list[CostComponent]:
    engine = str(r.inputs.get("engine") or "redis")
    item = elasticache_node_hour(str(node_type), engine)
    if item is None:
        ctx.warnings.append(f"{r.name}: ElastiCache node type {node_type!r} has no price in the catalog")
        item = Price(f"elasticache.{node_type}", None, "USD per node-hour", "-", "-")
    return [component(f"{node_type} nodes ({engine})", "cache", count * HOURS_PER_MONTH, "node-hours", item)]


def _cache_cluster(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    if r.inputs.get("replicationGroupId"):
        return []  # its nodes are priced with the replication group
    return _cache_nodes(r.inputs.get("nodeType"), num(r.inputs.get("numCacheNodes"), Decimal(1)), r, ctx)


def _cache_group(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    i = r.inputs
    if i.get("numCacheClusters") is not None:
        count = num(i.get("numCacheClusters"), Decimal(1))
    else:
        count = num(i.get("numNodeGroups"), Decimal(1)) * (num(i.get("replicasPerNodeGroup"), Decimal(0)) + 1)
    return _cache_nodes(i.get("nodeType"), count, r, ctx)


def _instance(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    itype = r.inputs.get("instanceType")
    spec = ctx.catalog.get(str(itype))
    od = ctx.catalog.sources.get("on_demand", {})
    item = Price(
        f"ec2.{itype}",
        spec.on_demand_hourly if spec else None,
        "USD per hour",
        od.get("source", "-"),
        od.get("as_of", "-"),
    )
    if spec is None or spec.on_demand_hourly is None:
        ctx.warnings.append(f"{r.name}: instance type {itype!r} has no on-demand price in the catalog")
    return [component(f"{itype} (on-demand)", "compute-on-demand", HOURS_PER_MONTH, "hours", item)]


def _node_group(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    spec = node_group_spec(r, ctx.plan)
    cost, _, warnings = price_pool(spec, ctx.catalog, r.type)
    ctx.warnings.extend(warnings)
    ctx.assumptions.extend(spec.notes)
    return cost.components


def _sqs(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    requests, src = ctx.usage.get("sqs_requests_per_month", r.name, r.urn)
    return [
        component(
            "requests",
            "messaging",
            requests / 1_000_000,
            "1M requests",
            price("sqs.requests_million"),
            f"usage: {src}",
        )
    ]


PRICERS: dict[str, Callable[[PlannedResource, Context], list[CostComponent]]] = {
    "aws:eks/cluster:Cluster": _eks,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:kms/key:Key": _kms,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:lambda/function:Function": _lambda,
    "aws:lb/loadBalancer:LoadBalancer": _lb,
    "aws:alb/loadBalancer:LoadBalancer": _lb,
    "aws:ebs/volume:Volume": _ebs,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:elasticache/cluster:Cluster": _cache_cluster,
    "aws:elasticache/replicationGroup:ReplicationGroup": _cache_group,
    "aws:ec2/instance:Instance": _instance,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:sqs/queue:Queue": _sqs,
}


def price_resource(r: PlannedResource, ctx: Context) -> ResourceCost | None:
    """The resource's cost; None when it is not a billable resource of its own (components, providers)."""
    if not r.custom or r.type.startswith("pulumi:") or r.type in PRICED_ELSEWHERE:
        return None
    free = FREE.get(r.type) or FREE_PACKAGES.get(r.type.split(":", 1)[0])
    if free is not None:
        return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="free", note=free)
    pricer = PRICERS.get(r.type)
    if pricer is None:
        return ResourceCost(
            urn=r.urn, name=r.name, type=r.type, status="not-priced", note="no price model for this type: cost unknown"
        )
    return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="priced", components=pricer(r, ctx))
