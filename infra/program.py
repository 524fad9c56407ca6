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
from infra.config import PROJECT, StackConfig, load_serving_api_keys
from infra.cost.from_config import expected_monthly_cost
from infra.serving_manifests import MODEL_SERVICE_ACCOUNT, NODE_CACHE_DIR

STACK_TAG_KEY = "frugal-stack"


def stack_tags(cfg: StackConfig) -> dict[str, str]:
    """The cost-allocation tags every taggable resource carries; STACK_TAG_KEY names this stack alone."""
    return {**cfg.tags.as_aws(), STACK_TAG_KEY: f"{PROJECT}-{cfg.stack}"}


def build(cfg: StackConfig) -> None:
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
        build_serving(cfg, cluster_name, cluster, shared_cache, tags, within)
    alarms = BudgetAlarms(
        "budget",
        BudgetAlarmsArgs(
            budget=cfg.budget,
            anomaly=cfg.anomaly,
            stack_tag=(STACK_TAG_KEY, tags[STACK_TAG_KEY]),
            cost_allocation_tag_keys=sorted(tags),
            name_prefix=cluster_name,
            tags=tags,
        ),
        within,
    )

    pulumi.export("cluster_name", cluster.name)
    pulumi.export("cluster_endpoint", cluster.endpoint)
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("node_pool_asg_names", {name: pool.asg_name for name, pool in pools.items()})
    pulumi.export("alert_topic_arn", alarms.topic_arn)
    pulumi.export("budget_monthly_limit_usd", str(cfg.budget.monthly_limit_usd))
    # The cost preview's expected figure (infra/cost/from_config.py), so `pulumi preview` shows it.
    pulumi.export("expected_monthly_cost_usd", str(expected_monthly_cost(cfg)))


def build_serving(
    cfg: StackConfig,
    cluster_name: str,
    cluster: Cluster,
    shared_cache: SharedCache | None,
    tags: dict[str, str],
    within: pulumi.ResourceOptions,
) -> None:
    """Model servers per tier and the gateway: the model bucket, the image repository, the objects."""
    from infra.components.image_repository import ImageRepository, ImageRepositoryArgs
    from infra.components.model_store import ModelStore, ModelStoreArgs
    from infra.components.serving import Serving, ServingArgs
    from infra.serving_gateway import models_namespace

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
    provider, reader_role_arn, system_nodes = _platform_stand_in(
        cfg, cluster_name, cluster, models_namespace(serving), MODEL_SERVICE_ACCOUNT, store.reader_policy, tags, within
    )
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
            model_reader_role_arn=reader_role_arn,
            redis_url=redis_url,
            tenant_keys=tenant_keys,
            system_node_selector=system_nodes,
            provider=provider,
        ),
        within,
    )
    pulumi.export("model_bucket", store.bucket_name)
    pulumi.export("image_repository_url", repository.repository_url)


# --- PLATFORM STAND-IN -------------------------------------------------------------------------
# See infra/components/platform_stand_in.py: at merge, replace this call with the platform's
# KubernetesAccess(...).provider, a WorkloadIdentity(namespace=models namespace,
# service_account=MODEL_SERVICE_ACCOUNT, policy=store.reader_policy) and platform_values'
# system_node_selector(), and pass the platform controllers as Serving's wait_for.


def _platform_stand_in(
    cfg: StackConfig,
    cluster_name: str,
    cluster: Cluster,
    namespace: str,
    service_account: str,
    reader_policy: pulumi.Input[str],
    tags: dict[str, str],
    within: pulumi.ResourceOptions,
) -> tuple[object, pulumi.Output[str], dict[str, str]]:
    from infra.components.platform_stand_in import PlatformStandIn, PlatformStandInArgs

    stand_in = PlatformStandIn(
        "serving-access",
        PlatformStandInArgs(
            cluster_name=cluster_name,
            region=cfg.region,
            endpoint=cluster.endpoint,
            certificate_authority=cluster.certificate_authority,
            oidc_provider_arn=cluster.oidc_provider_arn,
            namespace=namespace,
            service_account=service_account,
            policy=reader_policy,
            tags=tags,
        ),
        within,
    )
    return stand_in.provider, stand_in.role_arn, stand_in.system_node_selector
