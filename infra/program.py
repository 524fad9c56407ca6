"""The Pulumi program: validated config in, components out. No logic beyond wiring."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components import (
    BudgetAlarms,
    BudgetAlarmsArgs,
    Cluster,
    ClusterArgs,
    GpuNodePool,
    GpuNodePoolArgs,
    Network,
    NetworkArgs,
    ScalingSchedule,
    ScalingScheduleArgs,
    SharedCache,
    SharedCacheArgs,
)
from infra.config import PROJECT, StackConfig
from infra.registrations import COST_OUTPUT, cost_summary_output, expected_cost_output, record_registrations

STACK_TAG_KEY = "frugal-stack"


def stack_tags(cfg: StackConfig) -> dict[str, str]:
    """The cost-allocation tags every taggable resource carries; STACK_TAG_KEY names this stack alone."""
    return {**cfg.tags.as_aws(), STACK_TAG_KEY: f"{PROJECT}-{cfg.stack}"}


def build(cfg: StackConfig) -> None:
    # Every resource from here on is recorded, so the exported cost prices what was really declared.
    recorder = record_registrations()
    tags = stack_tags(cfg)
    cluster_name = f"{PROJECT}-{cfg.stack}"
    provider = aws.Provider("aws", region=cfg.region)
    within = pulumi.ResourceOptions(providers=[provider])

    network = Network("net", NetworkArgs(config=cfg.network, cluster_name=cluster_name, tags=tags), within)
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            cluster_name=cluster_name,
            config=cfg.cluster,
            private_subnet_ids=network.private_subnet_ids,
            tags=tags,
        ),
        within,
    )
    scheduled = set() if cfg.schedule is None else {p for period in cfg.schedule.periods for p in period.capacity}
    pools = {
        pool.name: GpuNodePool(
            f"pool-{pool.name}",
            GpuNodePoolArgs(
                pool=pool,
                cluster_name=cluster_name,
                kubernetes_version=cfg.cluster.kubernetes_version,
                cluster_endpoint=cluster.endpoint,
                cluster_certificate_authority=cluster.certificate_authority,
                cluster_service_cidr=cluster.service_cidr,
                cluster_security_group_id=cluster.security_group_id,
                node_instance_profile_arn=cluster.node_instance_profile_arn,
                subnet_ids=network.private_subnet_ids,
                scheduled=pool.name in scheduled,
                tags=tags,
            ),
            within,
        )
        for pool in cfg.pools
    }
    if cfg.schedule is not None:
        ScalingSchedule(
            "schedule",
            ScalingScheduleArgs(schedule=cfg.schedule, asg_names={n: p.asg_name for n, p in pools.items()}),
            within,
        )
    if cfg.cache.enabled:
        shared_cache = SharedCache(
            "cache",
            SharedCacheArgs(
                config=cfg.cache,
                name_prefix=cluster_name,
                vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids,
                client_security_group_id=cluster.security_group_id,
                tags=tags,
            ),
            within,
        )
        pulumi.export("shared_cache_endpoint", shared_cache.primary_endpoint)
    # Last of all: the summary prices every resource declared before it.
    summary = cost_summary_output(recorder, PROJECT, cfg.stack) if cfg.budget.slack_webhook_secret_name else None
    alarms = BudgetAlarms(
        "budget",
        BudgetAlarmsArgs(
            budget=cfg.budget,
            anomaly=cfg.anomaly,
            stack_tag=(STACK_TAG_KEY, tags[STACK_TAG_KEY]),
            cost_allocation_tag_keys=sorted(tags),
            name_prefix=cluster_name,
            tags=tags,
            stack=cfg.stack,
            environment=cfg.tags.environment,
            region=cfg.region,
            # The alert messages quote the cost model's figures for what the stack declared above.
            cost_summary=summary,
            gpu_asg_names=[pool.asg_name for pool in pools.values()],
        ),
        within,
    )

    pulumi.export("cluster_name", cluster.name)
    pulumi.export("cluster_endpoint", cluster.endpoint)
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("node_pool_asg_names", {name: pool.asg_name for name, pool in pools.items()})
    pulumi.export("alert_topic_arn", alarms.topic_arn)
    pulumi.export("budget_monthly_limit_usd", str(cfg.budget.monthly_limit_usd))
    # The cost model's expected figure over the registrations above, so `pulumi preview` shows it
    # ("unknown" while a value it depends on is not known yet).
    pulumi.export(COST_OUTPUT, expected_cost_output(recorder, PROJECT, cfg.stack))
