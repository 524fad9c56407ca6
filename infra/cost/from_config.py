"""The cost estimate from a stack's config alone, for the program's `expected_monthly_cost_usd` output.

A running Pulumi program cannot see its own plan, so it cannot call `estimate_plan` on it. Instead
this module writes down, from the validated `StackConfig`, the billable resources the components
declare (with the inputs the estimator reads and the components' logical names), and prices that
plan with the same `estimate_plan`. One estimator, two feeds. Whether the two agree is a test
(tests/cost/test_program_export.py: the export equals `frugal preview`'s expected total for every
stack), and `frugal preview` warns when an exported figure differs from what it prices.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from infra.config import PROJECT, ExistingVpc, StackConfig
from infra.cost.estimate import estimate_plan
from infra.cost.model import Report
from infra.plan import Plan, PlannedResource
from infra.schedule import cron_recurrence


def _r(stack: str, type_: str, name: str, inputs: dict[str, Any]) -> PlannedResource:
    return PlannedResource(
        urn=f"urn:pulumi:{stack}::{PROJECT}::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        inputs=inputs,
    )


def config_plan(cfg: StackConfig) -> Plan:
    """The billable resources of the stack as the components declare them (see module doc)."""
    s, cluster_name = cfg.stack, f"{PROJECT}-{cfg.stack}"
    res = [
        _r(s, "aws:eks/cluster:Cluster", "cluster-eks", {"version": cfg.cluster.kubernetes_version}),
        _r(
            s,
            "aws:cloudwatch/logGroup:LogGroup",
            "cluster-control-plane-logs",
            {"name": f"/aws/eks/{cluster_name}/cluster", "retentionInDays": cfg.cluster.log_retention_days},
        ),
        _r(s, "aws:kms/key:Key", "cluster-secrets", {"enableKeyRotation": True}),
        _r(s, "aws:kms/key:Key", "budget-alerts", {"enableKeyRotation": True}),
        _r(s, "aws:cloudwatch/metricAlarm:MetricAlarm", "budget-estimated-charges", {"period": 21600}),
        _r(
            s,
            "aws:budgets/budget:Budget",
            "budget-monthly",
            {"limitAmount": str(cfg.budget.monthly_limit_usd), "limitUnit": "USD", "timeUnit": "MONTHLY"},
        ),
    ]
    if not isinstance(cfg.network, ExistingVpc):
        for i in range(cfg.network.nat_gateways):
            res.append(_r(s, "aws:ec2/eip:Eip", f"net-nat-{i}", {"domain": "vpc"}))
            res.append(_r(s, "aws:ec2/natGateway:NatGateway", f"net-nat-{i}", {}))
    if cfg.budget.slack_webhook_secret_name:
        res.append(_r(s, "aws:lambda/function:Function", "budget-slack", {"timeout": 10}))
        res.append(
            _r(
                s,
                "aws:cloudwatch/logGroup:LogGroup",
                "budget-slack-logs",
                {"name": "/aws/lambda/budget-slack-forwarder", "retentionInDays": 30},
            )
        )
    if cfg.cache.enabled:
        res.append(
            _r(
                s,
                "aws:elasticache/replicationGroup:ReplicationGroup",
                "cache-rg",
                {
                    "engine": cfg.cache.engine,
                    "nodeType": cfg.cache.node_type,
                    "numCacheClusters": 1 + cfg.cache.replicas,
                },
            )
        )
    for pool in cfg.pools:
        name = f"pool-{pool.name}"
        res.append(
            _r(
                s,
                "aws:ec2/launchTemplate:LaunchTemplate",
                f"{name}-lt",
                {"blockDeviceMappings": [{"ebs": {"volumeSize": pool.root_volume_gib, "volumeType": "gp3"}}]},
            )
        )
        res.append(
            _r(
                s,
                "aws:autoscaling/group:Group",
                f"{name}-asg",
                {
                    "minSize": pool.min_size,
                    "maxSize": pool.max_size,
                    "desiredCapacity": pool.desired_capacity,
                    "mixedInstancesPolicy": {
                        "instancesDistribution": {
                            "onDemandBaseCapacity": pool.on_demand_base_capacity,
                            "onDemandPercentageAboveBaseCapacity": pool.on_demand_percentage_above_base,
                            "onDemandAllocationStrategy": "lowest-price",
                            "spotAllocationStrategy": pool.spot_allocation_strategy,
                        },
                        "launchTemplate": {
                            "launchTemplateSpecification": {"launchTemplateId": f"{name}-lt-offline"},
                            "overrides": [{"instanceType": t} for t in pool.instance_types],
                        },
                    },
                },
            )
        )
    if cfg.schedule is not None:
        for period in cfg.schedule.periods:
            for pool_name, cap in sorted(period.capacity.items()):
                res.append(
                    _r(
                        s,
                        "aws:autoscaling/schedule:Schedule",
                        f"schedule-{period.name}-{pool_name}",
                        {
                            "autoscalingGroupName": f"pool-{pool_name}-asg-offline",
                            "recurrence": cron_recurrence(period.window),
                            "timeZone": cfg.schedule.time_zone,
                            "minSize": -1 if cap.min is None else cap.min,
                            "maxSize": -1 if cap.max is None else cap.max,
                            "desiredCapacity": -1 if cap.desired is None else cap.desired,
                        },
                    )
                )
    if cfg.serving is not None:
        res.extend(_serving_items(cfg))
    return Plan(project=PROJECT, stack=s, source="offline", resources=res)


def _serving_items(cfg: StackConfig) -> list[PlannedResource]:
    """The serving resources that bill (infra/components/model_store.py, image_repository.py, the
    network's S3 endpoint and the gateway's Service), named as the components name them."""
    assert cfg.serving is not None
    s = cfg.stack
    res = [
        _r(s, "aws:s3/bucket:Bucket", "models-bucket", {"bucketPrefix": f"{PROJECT}-{s}-models-"}),
        _r(s, "aws:ecr/repository:Repository", "image-repo", {"name": f"{PROJECT}-{s}-runtime"}),
    ]
    if not isinstance(cfg.network, ExistingVpc):
        res.append(_r(s, "aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3", {"vpcEndpointType": "Gateway"}))
    for tier in cfg.serving.tiers:
        if tier.model.local_path is not None:
            res.append(
                _r(
                    s,
                    "aws:s3/bucketObjectv2:BucketObjectv2",
                    f"models-{tier.name}",
                    {"metadata": {"size-bytes": str(tier.model.size_bytes)}},
                )
            )
    if cfg.serving.gateway.exposure == "internal-nlb":
        res.append(
            _r(
                s,
                "kubernetes:core/v1:Service",
                f"serving-service-{cfg.serving.namespace}-gateway",
                {
                    "metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
                    "spec": {"type": "LoadBalancer"},
                },
            )
        )
    return res


def estimate_config(cfg: StackConfig, on: date | None = None) -> Report:
    return estimate_plan(config_plan(cfg), on=on)


def expected_monthly_cost(cfg: StackConfig, on: date | None = None) -> Decimal | None:
    return estimate_config(cfg, on).total.expected
