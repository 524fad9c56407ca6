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
from infra.cost.prices import Price, eks_hourly, elasticache_node_hour, price
from infra.cost.usage import Usage
from infra.plan import PlannedResource
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
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "free (SSE-S3)",
    "aws:s3/bucketVersioning:BucketVersioning": "free (old versions are stored objects, priced with them)",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "free",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "free",
}
KUBERNETES_FREE = "a Kubernetes object: it runs on the cluster's nodes, which are priced"
PRICED_ELSEWHERE = {"aws:autoscaling/group:Group"}


@dataclass
class Context:
    catalog: Catalog
    usage: Usage
    on: date
    warnings: list[str]
    assumptions: list[str]


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


GIB = Decimal(1024**3)


def _bucket(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    gets, src = ctx.usage.get("s3_get_requests_per_month", r.name, r.urn)
    return [component("GET requests", "storage", gets / 1000, "1k requests", price("s3.get_thousand"), f"usage: {src}")]


def _bucket_object(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    metadata = r.inputs.get("metadata") or {}
    size = num(metadata.get("size-bytes") if isinstance(metadata, dict) else None)
    if size is None:
        ctx.warnings.append(f"{r.name}: object size unknown (no size-bytes metadata); storage not priced")
        return [component("storage", "storage", Decimal(0), "GB-months", Price("s3.object", None, "", "-", "-"))]
    return [component("S3 Standard storage", "storage", size / GIB, "GB-months", price("s3.standard_gb_month"))]


def _ecr(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    gb, src = ctx.usage.get("ecr_storage_gb", r.name, r.urn)
    return [component("image storage", "storage", gb, "GB-months", price("ecr.gb_month"), f"usage: {src}")]


def _vpc_endpoint(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    if r.inputs.get("vpcEndpointType") != "Gateway":
        unknown = Price("vpc.interface_endpoint", None, "USD per AZ-hour", "-", "-")
        ctx.warnings.append(f"{r.name}: interface endpoints are not priced (only gateway endpoints, which are free)")
        return [component("interface endpoint", "network", HOURS_PER_MONTH, "hours", unknown)]
    gb, src = ctx.usage.get("model_pull_gb_per_month", r.name, r.urn)
    nat = price("nat.gb")
    saved = (gb * nat.usd).quantize(Decimal("0.01")) if nat.usd is not None else None
    note = (
        f"saving: {gb} GB of model pulls a month skip NAT processing (${nat.usd}/GB): ${saved} a month not paid "
        f"(usage: {src})"
    )
    ctx.assumptions.append(f"{r.name}: {note}")
    return [component("S3 gateway endpoint", "network", gb, "GB", price("vpc.gateway_endpoint"), note)]


def _k8s_service(r: PlannedResource, ctx: Context) -> list[CostComponent] | None:
    spec = r.inputs.get("spec") or {}
    annotations = (r.inputs.get("metadata") or {}).get("annotations") or {}
    if not isinstance(spec, dict) or spec.get("type") != "LoadBalancer":
        return None
    kind = annotations.get("service.beta.kubernetes.io/aws-load-balancer-type", "classic")
    if kind not in ("nlb", "external"):
        unknown = Price("lb.classic", None, "USD per hour", "-", "-")
        ctx.warnings.append(f"{r.name}: a Service of type LoadBalancer without the NLB annotation makes a Classic LB")
        return [component("classic load balancer", "network", HOURS_PER_MONTH, "hours", unknown)]
    return _lb(r.model_copy(update={"inputs": {"loadBalancerType": "network"}}), ctx)


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
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketObjectv2:BucketObjectv2": _bucket_object,
    "aws:ecr/repository:Repository": _ecr,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
}


def price_resource(r: PlannedResource, ctx: Context) -> ResourceCost | None:
    """The resource's cost; None when it is not a billable resource of its own (components, providers)."""
    if not r.custom or r.type.startswith("pulumi:") or r.type in PRICED_ELSEWHERE:
        return None
    if r.type in FREE:
        return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="free", note=FREE[r.type])
    if r.type.startswith("kubernetes:"):
        lb = _k8s_service(r, ctx) if r.type == "kubernetes:core/v1:Service" else None
        if lb is None:
            return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="free", note=KUBERNETES_FREE)
        return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="priced", components=lb)
    pricer = PRICERS.get(r.type)
    if pricer is None:
        return ResourceCost(
            urn=r.urn, name=r.name, type=r.type, status="not-priced", note="no price model for this type: cost unknown"
        )
    return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="priced", components=pricer(r, ctx))
