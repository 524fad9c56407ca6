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
from typing import Any, overload

from infra.catalog import Catalog
from infra.cost.model import CostComponent, Range, ResourceCost
from infra.cost.node_groups import node_group_spec
from infra.cost.pools import price_pool
from infra.cost.prices import Price, eks_hourly, elasticache_node_hour, price
from infra.cost.usage import Usage
from infra.plan import Plan, PlannedResource
from infra.schedule import HOURS_PER_MONTH
from infra.tokens import (
    ALB_LOAD_BALANCER,
    AUTOSCALING_GROUP,
    AUTOSCALING_LIFECYCLE_HOOK,
    AUTOSCALING_SCHEDULE,
    BUDGETS_BUDGET,
    CLOUDWATCH_EVENT_RULE,
    CLOUDWATCH_EVENT_TARGET,
    CLOUDWATCH_LOG_GROUP,
    CLOUDWATCH_METRIC_ALARM,
    COSTEXPLORER_ANOMALY_MONITOR,
    COSTEXPLORER_ANOMALY_SUBSCRIPTION,
    COSTEXPLORER_COST_ALLOCATION_TAG,
    DYNAMODB_TABLE,
    EBS_VOLUME,
    EC2_EIP,
    EC2_INSTANCE,
    EC2_INTERNET_GATEWAY,
    EC2_LAUNCH_TEMPLATE,
    EC2_NAT_GATEWAY,
    EC2_ROUTE,
    EC2_ROUTE_TABLE,
    EC2_ROUTE_TABLE_ASSOCIATION,
    EC2_SECURITY_GROUP,
    EC2_SECURITY_GROUP_RULE,
    EC2_SUBNET,
    EC2_VPC,
    EC2_VPC_ENDPOINT,
    ECR_LIFECYCLE_POLICY,
    ECR_REPOSITORY,
    EKS_ACCESS_ENTRY,
    EKS_ACCESS_POLICY_ASSOCIATION,
    EKS_ADDON,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    ELASTICACHE_CLUSTER,
    ELASTICACHE_REPLICATION_GROUP,
    ELASTICACHE_SUBNET_GROUP,
    IAM_INSTANCE_PROFILE,
    IAM_OPEN_ID_CONNECT_PROVIDER,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    KMS_KEY,
    KUBERNETES_SERVICE,
    LAMBDA_EVENT_SOURCE_MAPPING,
    LAMBDA_FUNCTION,
    LAMBDA_PERMISSION,
    LB_LOAD_BALANCER,
    S3_BUCKET,
    S3_BUCKET_LIFECYCLE_CONFIGURATION,
    S3_BUCKET_NOTIFICATION,
    S3_BUCKET_OBJECT_V2,
    S3_BUCKET_POLICY,
    S3_BUCKET_PUBLIC_ACCESS_BLOCK,
    S3_BUCKET_SERVER_SIDE_ENCRYPTION,
    S3_BUCKET_VERSIONING,
    SECRETSMANAGER_SECRET,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    SNS_TOPIC_SUBSCRIPTION,
    SQS_QUEUE,
    SQS_QUEUE_POLICY,
    SQS_REDRIVE_ALLOW_POLICY,
    VPC_SECURITY_GROUP_EGRESS_RULE,
    VPC_SECURITY_GROUP_INGRESS_RULE,
)

DAYS_PER_MONTH = HOURS_PER_MONTH / 24

# Billed nothing on their own (AWS charges for them nothing, or only through what they configure).
FREE: dict[str, str] = {
    **{
        t: "IAM is free"
        for t in (
            IAM_ROLE,
            IAM_ROLE_POLICY,
            IAM_ROLE_POLICY_ATTACHMENT,
            IAM_INSTANCE_PROFILE,
            IAM_OPEN_ID_CONNECT_PROVIDER,
            IAM_POLICY,
        )
    },
    **{
        t: "VPC plumbing is free"
        for t in (
            EC2_VPC,
            EC2_SUBNET,
            EC2_ROUTE_TABLE,
            EC2_ROUTE_TABLE_ASSOCIATION,
            EC2_ROUTE,
            EC2_INTERNET_GATEWAY,
            EC2_SECURITY_GROUP,
            EC2_SECURITY_GROUP_RULE,
            VPC_SECURITY_GROUP_INGRESS_RULE,
            VPC_SECURITY_GROUP_EGRESS_RULE,
        )
    },
    EC2_LAUNCH_TEMPLATE: "priced with its auto-scaling group (root volumes)",
    AUTOSCALING_SCHEDULE: "priced with its auto-scaling group (capacity by hour)",
    AUTOSCALING_LIFECYCLE_HOOK: "free",
    BUDGETS_BUDGET: "budgets without actions are free (AWS Budgets pricing, https://aws.amazon.com/aws-cost-management/aws-budgets/pricing/)",
    COSTEXPLORER_ANOMALY_MONITOR: "Cost Anomaly Detection is free",
    COSTEXPLORER_ANOMALY_SUBSCRIPTION: "Cost Anomaly Detection is free",
    COSTEXPLORER_COST_ALLOCATION_TAG: "tag activation is free",
    SNS_TOPIC: "first 1M publishes and 1,000 e-mails a month are free; alert volume is far below",
    SNS_TOPIC_POLICY: "free",
    SNS_TOPIC_SUBSCRIPTION: "free (deliveries are billed to the topic)",
    LAMBDA_PERMISSION: "free",
    EKS_ACCESS_ENTRY: "free",
    ELASTICACHE_SUBNET_GROUP: "free",
    EKS_ACCESS_POLICY_ASSOCIATION: "free",
    S3_BUCKET_NOTIFICATION: "free",
    S3_BUCKET_POLICY: "free",
    S3_BUCKET_PUBLIC_ACCESS_BLOCK: "free",
    SQS_QUEUE_POLICY: "free",
    SQS_REDRIVE_ALLOW_POLICY: "free",
    EKS_ADDON: "EKS add-ons are free; their pods run on priced nodes",
    # "Events published by AWS services are free" (https://aws.amazon.com/eventbridge/pricing/,
    # default event bus; not re-verified offline): the rules match only AWS service events.
    CLOUDWATCH_EVENT_RULE: "matches AWS service events only, which EventBridge delivers free",
    CLOUDWATCH_EVENT_TARGET: "free (deliveries of AWS service events are free)",
    S3_BUCKET_SERVER_SIDE_ENCRYPTION: "free (SSE-S3)",
    S3_BUCKET_VERSIONING: "free (old versions are stored objects, priced with them)",
    S3_BUCKET_LIFECYCLE_CONFIGURATION: "free",
    ECR_LIFECYCLE_POLICY: "free",
}
# Whole providers whose resources are free: Kubernetes objects (Helm releases, namespaces, and the
# objects a real preview lists under a ConfigGroup) cost nothing themselves; they run on priced nodes.
# The one exception: a Service of type LoadBalancer makes AWS create a load balancer (_k8s_service).
FREE_PACKAGES: dict[str, str] = {"kubernetes": "in-cluster object: runs on the cluster's priced nodes"}
PRICED_ELSEWHERE = {AUTOSCALING_GROUP}


@dataclass
class Context:
    catalog: Catalog
    usage: Usage
    on: date
    warnings: list[str]
    assumptions: list[str]
    plan: Plan | None = None
    """The whole plan, for resources priced with another one (a node group with its launch template)."""


@overload
def num(value: Any, default: Decimal) -> Decimal: ...
@overload
def num(value: Any, default: None = None) -> Decimal | None: ...
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


def _sqs_queue(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    # A queue an in-cluster worker long-polls is billed for every poll; a Lambda's polls are priced
    # with its event source mapping, so other queues carry only their own messages.
    worker = _polled_by_a_worker(r, ctx)
    key = "sqs_worker_poll_requests_per_month" if worker else "sqs_requests_per_month"
    requests, src = ctx.usage.get(key, r.name, r.urn)
    name = "requests (long polls by an in-cluster worker, messages, deletes)" if worker else "requests"
    return [
        component(
            name, "messaging", requests / 1_000_000, "1M requests", price("sqs.requests_million"), f"usage: {src}"
        )
    ]


def _polled_by_a_worker(r: PlannedResource, ctx: Context) -> bool:
    """An EventBridge target that no Lambda event source consumes: a worker outside AWS polls it (its
    polls are not priced with any other resource). A Lambda's polling is priced with its mapping."""
    if ctx.plan is None:
        return False
    consumers = {x.type for x in ctx.plan.resources if r.urn in x.dependencies}
    return CLOUDWATCH_EVENT_TARGET in consumers and LAMBDA_EVENT_SOURCE_MAPPING not in consumers


def _event_source(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    source = str(r.inputs.get("eventSourceArn") or "")
    if ":sqs:" not in source:
        ctx.warnings.append(f"{r.name}: only SQS event sources are priced (got {source or 'an unknown source'})")
        unknown = Price("lambda.event_source", None, "", "-", "-")
        return [component("event source polling", "messaging", Decimal(0), "requests", unknown)]
    polls, src = ctx.usage.get("sqs_poll_requests_per_month", r.name, r.urn)
    return [
        component(
            "SQS polling by Lambda (billed to the queue)",
            "messaging",
            polls / 1_000_000,
            "1M requests",
            price("sqs.requests_million"),
            f"usage: {src}; Lambda long-polls even an empty queue",
        )
    ]


def _dynamodb(r: PlannedResource, ctx: Context) -> list[CostComponent]:
    if r.inputs.get("billingMode", "PROVISIONED") != "PAY_PER_REQUEST":
        ctx.warnings.append(f"{r.name}: only on-demand (PAY_PER_REQUEST) DynamoDB tables are priced")
        unknown = Price("dynamodb.provisioned", None, "", "-", "-")
        return [component("provisioned capacity", "database", Decimal(0), "capacity-units", unknown)]
    writes, src = ctx.usage.get("dynamodb_writes_per_month", r.name, r.urn)
    reads, _ = ctx.usage.get("dynamodb_reads_per_month", r.name, r.urn)
    stored, _ = ctx.usage.get("dynamodb_storage_gb", r.name, r.urn)
    return [
        component("writes", "database", writes / 1_000_000, "1M WRU", price("dynamodb.write_million"), f"usage: {src}"),
        component("reads", "database", reads / 1_000_000, "1M RRU", price("dynamodb.read_million"), f"usage: {src}"),
        component("storage", "database", stored, "GB-months", price("dynamodb.storage_gb_month"), f"usage: {src}"),
    ]


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
    EKS_CLUSTER: _eks,
    EC2_NAT_GATEWAY: _nat,
    EC2_EIP: _eip,
    KMS_KEY: _kms,
    CLOUDWATCH_METRIC_ALARM: _alarm,
    CLOUDWATCH_LOG_GROUP: _log_group,
    LAMBDA_FUNCTION: _lambda,
    LB_LOAD_BALANCER: _lb,
    ALB_LOAD_BALANCER: _lb,
    EBS_VOLUME: _ebs,
    SECRETSMANAGER_SECRET: _secret,
    ELASTICACHE_CLUSTER: _cache_cluster,
    ELASTICACHE_REPLICATION_GROUP: _cache_group,
    EC2_INSTANCE: _instance,
    SQS_QUEUE: _sqs_queue,
    LAMBDA_EVENT_SOURCE_MAPPING: _event_source,
    DYNAMODB_TABLE: _dynamodb,
    EKS_NODE_GROUP: _node_group,
    S3_BUCKET: _bucket,
    S3_BUCKET_OBJECT_V2: _bucket_object,
    ECR_REPOSITORY: _ecr,
    EC2_VPC_ENDPOINT: _vpc_endpoint,
}


def price_resource(r: PlannedResource, ctx: Context) -> ResourceCost | None:
    """The resource's cost; None when it is not a billable resource of its own (components, providers)."""
    if not r.custom or r.type.startswith("pulumi:") or r.type in PRICED_ELSEWHERE:
        return None
    free = FREE.get(r.type) or FREE_PACKAGES.get(r.type.split(":", 1)[0])
    lb = _k8s_service(r, ctx) if r.type == KUBERNETES_SERVICE else None
    if lb is not None:
        return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="priced", components=lb)
    if free is not None:
        return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="free", note=free)
    pricer = PRICERS.get(r.type)
    if pricer is None:
        return ResourceCost(
            urn=r.urn, name=r.name, type=r.type, status="not-priced", note="no price model for this type: cost unknown"
        )
    return ResourceCost(urn=r.urn, name=r.name, type=r.type, status="priced", components=pricer(r, ctx))
