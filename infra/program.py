"""The Pulumi program: validated config in, components out. No logic beyond wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components import (
    BudgetAlarms,
    BudgetAlarmsArgs,
    Cluster,
    ClusterAddons,
    ClusterAddonsArgs,
    ClusterArgs,
    GpuNodePool,
    GpuNodePoolArgs,
    InterruptionQueue,
    InterruptionQueueArgs,
    Network,
    NetworkArgs,
    ScalingSchedule,
    ScalingScheduleArgs,
    SharedCache,
    SharedCacheArgs,
    SystemNodes,
    SystemNodesArgs,
    WorkloadIdentity,
    WorkloadIdentityArgs,
)
from infra.components.kubernetes_provider import KubernetesAccess, KubernetesAccessArgs
from infra.components.platform_controllers import PlatformControllers, PlatformControllersArgs
from infra.config import PROJECT, StackConfig, load_serving_api_keys
from infra.platform_iam import cluster_autoscaler_policy, node_termination_handler_policy
from infra.platform_values import (
    AUTOSCALER_SERVICE_ACCOUNT,
    NTH_MANAGED_TAG,
    NTH_SERVICE_ACCOUNT,
    PLATFORM_NAMESPACE,
    system_node_selector,
)
from infra.registrations import COST_OUTPUT, cost_summary_output, expected_cost_output, record_registrations
from infra.serving_models import MODEL_SERVICE_ACCOUNT, NODE_CACHE_DIR

STACK_TAG_KEY = "frugal-stack"


@dataclass(frozen=True)
class Platform:
    """What workloads on the cluster need from the platform."""

    provider: Any
    """The stack's Kubernetes provider (KubernetesAccess.provider)."""
    controllers: list[Any]
    """The controllers' Helm releases: objects that need their CRDs or nodes wait for these."""
    system_node_selector: dict[str, str]


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

    network = Network(
        "net",
        NetworkArgs(
            config=cfg.network,
            cluster_name=cluster_name,
            tags=tags,
            s3_gateway_endpoint_region=cfg.region if cfg.serving is not None else None,
        ),
        within,
    )
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
                # The termination handler drains only nodes with this tag: the GPU groups', never others.
                extra_asg_tags={NTH_MANAGED_TAG: "true"},
                model_cache_dir=NODE_CACHE_DIR if cfg.serving is not None else None,
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
    platform = build_platform(cfg, cluster_name, network, cluster, pools, tags, provider)
    shared_cache: SharedCache | None = None
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
    if cfg.serving is not None:
        build_serving(cfg, cluster_name, cluster, platform, shared_cache, tags, within)
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


def build_platform(
    cfg: StackConfig,
    cluster_name: str,
    network: Network,
    cluster: Cluster,
    pools: dict[str, GpuNodePool],
    tags: dict[str, str],
    provider: aws.Provider,
) -> Platform:
    """What makes the cluster able to run workloads: system nodes, add-ons, identities, controllers."""
    platform = cfg.platform
    within = pulumi.ResourceOptions(providers=[provider])
    system = SystemNodes(
        "system",
        SystemNodesArgs(
            config=platform.system_nodes,
            cluster_name=cluster.name,
            node_group_name=f"{cluster_name}-system",
            subnet_ids=network.private_subnet_ids,
            cluster_security_group_id=cluster.security_group_id,
            tags=tags,
        ),
        within,
    )
    addons = ClusterAddons(
        "addons",
        ClusterAddonsArgs(
            cluster_name=cluster.name,
            versions=platform.addon_versions_for(cfg.cluster.kubernetes_version),
            tags=tags,
            nodes=system.node_group,
        ),
        within,
    )
    queue = InterruptionQueue(
        "interruptions",
        InterruptionQueueArgs(
            name_prefix=cluster_name, asg_names=pulumi.Output.all(*[p.asg_name for p in pools.values()]), tags=tags
        ),
        within,
    )
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    autoscaler = _identity(
        "autoscaler-identity",
        cluster,
        PLATFORM_NAMESPACE,
        AUTOSCALER_SERVICE_ACCOUNT,
        account.apply(
            lambda acct: cluster_autoscaler_policy(region=cfg.region, account=acct, cluster_name=cluster_name)
        ),
        f"cluster-autoscaler of {cluster_name} (IRSA)",
        tags,
        within,
    )
    handler = _identity(
        "termination-handler-identity",
        cluster,
        PLATFORM_NAMESPACE,
        NTH_SERVICE_ACCOUNT,
        pulumi.Output.all(account, queue.queue_arn).apply(
            lambda v: node_termination_handler_policy(
                region=cfg.region, account=v[0], queue_arn=v[1], stack_tag=(STACK_TAG_KEY, tags[STACK_TAG_KEY])
            )
        ),
        f"aws-node-termination-handler of {cluster_name} (IRSA)",
        tags,
        within,
    )
    access = KubernetesAccess(
        "kubernetes",
        KubernetesAccessArgs(
            cluster_name=cluster_name,
            endpoint=cluster.endpoint,
            certificate_authority=cluster.certificate_authority,
            region=cfg.region,
        ),
        within,
    )
    controllers = PlatformControllers(
        "controllers",
        PlatformControllersArgs(
            config=platform,
            pools=list(cfg.pools),
            cluster_name=cluster_name,
            region=cfg.region,
            kubernetes_version=cfg.cluster.kubernetes_version,
            autoscaler_role_arn=autoscaler.role_arn,
            termination_handler_role_arn=handler.role_arn,
            interruption_queue_url=queue.queue_url,
            provider=access.provider,
            wait_for=[system.node_group, *addons.addons.values()],
        ),
        within,
    )
    pulumi.export("system_node_group", system.node_group_name)
    pulumi.export("interruption_queue_url", queue.queue_url)
    return Platform(
        provider=access.provider,
        controllers=list(controllers.releases.values()),
        system_node_selector=system_node_selector(),
    )


def build_serving(
    cfg: StackConfig,
    cluster_name: str,
    cluster: Cluster,
    platform: Platform,
    shared_cache: SharedCache | None,
    tags: dict[str, str],
    within: pulumi.ResourceOptions,
) -> None:
    """Model servers per tier and the gateway: the model bucket, the image repository, the objects."""
    from infra.components.image_repository import ImageRepository, ImageRepositoryArgs
    from infra.components.model_store import ModelStore, ModelStoreArgs
    from infra.components.serving import Serving, ServingArgs
    from infra.serving_gateway import models_namespace
    from infra.serving_sizing import pool_fit_warnings

    serving = cfg.serving
    assert serving is not None
    store = ModelStore("models", ModelStoreArgs(name_prefix=cluster_name, tiers=list(serving.tiers), tags=tags), within)
    repository = ImageRepository(
        "image", ImageRepositoryArgs(repository_name=f"{cluster_name}-runtime", tags=tags), within
    )
    image = (
        repository.repository_url.apply(lambda url: f"{url}@{serving.image.digest}")
        if serving.image.digest is not None
        else pulumi.Output.from_input(str(serving.image.reference))
    )
    reader = _identity(
        "model-reader-identity",
        cluster,
        models_namespace(serving),
        MODEL_SERVICE_ACCOUNT,
        store.reader_policy,
        f"model servers of {cluster_name} read their pinned models (IRSA)",
        tags,
        within,
    )
    for warning in pool_fit_warnings(serving.tiers, {pool.name: pool.instance_types for pool in cfg.pools}):
        pulumi.log.warn(warning)
    tenant_keys = load_serving_api_keys()
    if serving.gateway.tenants and tenant_keys is None:
        pulumi.log.warn(
            f"serving.gateway.tenants declares {len(serving.gateway.tenants)} tenant(s) but serving_api_keys is not "
            "set: no client can authenticate to the gateway. Set their keys with "
            '`pulumi config set --secret serving_api_keys \'{"tenant": "key"}\'`.'
        )
    redis_url = (
        shared_cache.primary_endpoint.apply(lambda host: f"rediss://{host}:{shared_cache.port}/0")
        if shared_cache is not None
        else None
    )
    Serving(
        "serving",
        ServingArgs(
            stack=cfg,
            image=image,
            model_uris=store.model_uris,
            model_reader_role_arn=reader.role_arn,
            redis_url=redis_url,
            tenant_keys=tenant_keys,
            system_node_selector=platform.system_node_selector,
            provider=platform.provider,
            # The ScaledObjects need KEDA's CRDs; the model servers need the device plugin's GPUs.
            wait_for=platform.controllers,
        ),
        within,
    )
    pulumi.export("model_bucket", store.bucket_name)
    pulumi.export("image_repository_url", repository.repository_url)


def _identity(
    name: str,
    cluster: Cluster,
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    description: str,
    tags: dict[str, str],
    within: pulumi.ResourceOptions,
) -> WorkloadIdentity:
    """An IRSA role that one service account of the cluster may assume, with its one policy."""
    return WorkloadIdentity(
        name,
        WorkloadIdentityArgs(
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            namespace=namespace,
            service_account=service_account,
            policy=policy,
            description=description,
            tags=tags,
        ),
        within,
    )
