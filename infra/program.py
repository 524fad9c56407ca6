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
        pulumi.Output.concat(repository.repository_url, "@", serving.image.digest)
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
        pulumi.Output.concat("rediss://", shared_cache.primary_endpoint, f":{shared_cache.port}/0")
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
# The platform work (system nodes, add-ons, the Kubernetes provider, workload identity, KEDA)
# builds these for the whole stack. Until it is merged, serving makes the three things it needs
# here, the way the platform does: a pulumi_kubernetes Provider from the cluster's endpoint and CA
# with `aws eks get-token` exec auth, an IRSA role for the model servers' service account, and the
# system nodes' label. At merge, replace this function's body with the platform's
# KubernetesAccess(...).provider, a WorkloadIdentity(namespace=models namespace,
# service_account=MODEL_SERVICE_ACCOUNT, policy=reader_policy) and platform_values'
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
    import json

    from pulumi_kubernetes.provider import Provider

    from infra.serving_iam import irsa_trust_policy

    def kubeconfig(values: list[str]) -> str:
        endpoint, ca = values
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": [
                    "eks",
                    "get-token",
                    "--cluster-name",
                    cluster_name,
                    "--region",
                    cfg.region,
                    "--output",
                    "json",
                ],
                "interactiveMode": "Never",
            }
        }
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
                "users": [{"name": cluster_name, "user": user}],
                "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
                "current-context": cluster_name,
            },
            sort_keys=True,
        )

    provider = Provider(
        "serving-k8s",
        kubeconfig=pulumi.Output.all(cluster.endpoint, cluster.certificate_authority).apply(kubeconfig),
        enable_server_side_apply=True,
        delete_unreachable=False,
        opts=within,
    )
    role = aws.iam.Role(
        "serving-model-reader",
        description=f"model servers of {cluster_name} read their pinned models (IRSA)",
        assume_role_policy=cluster.oidc_provider_arn.apply(
            lambda arn: irsa_trust_policy(arn, namespace, service_account)
        ),
        max_session_duration=3600,
        tags=tags,
        opts=within,
    )
    aws.iam.RolePolicy("serving-model-reader", role=role.id, policy=reader_policy, opts=within)
    return provider, role.arn, {"frugal.dev/node-role": "system"}
