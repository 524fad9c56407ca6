"""PlatformControllers: the cluster's controllers as Helm releases with pinned charts, plus the
namespaces they live in.

- NVIDIA device plugin: a DaemonSet on the GPU nodes that advertises `nvidia.com/gpu`;
- cluster autoscaler: scales this stack's groups between the min and max the schedule sets;
- KEDA: event-driven scaling of the model servers;
- aws-node-termination-handler (queue processor): cordons and drains a node before it goes.

Values come from the typed config through infra/platform_values.py; the raw objects (namespaces
with Pod Security labels, a LimitRange) are one `yaml/v2:ConfigGroup` every release depends on.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.helm.v3 import Release
from pulumi_kubernetes.yaml.v2 import ConfigGroup

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr
from infra.config import PlatformConfig, PoolConfig
from infra.platform_values import (
    DEVICE_PLUGIN_NAMESPACE,
    PLATFORM_NAMESPACE,
    cluster_autoscaler_values,
    device_plugin_values,
    keda_values,
    node_termination_handler_values,
    platform_manifests,
)
from infra.platform_versions import CLUSTER_AUTOSCALER, KEDA, NODE_TERMINATION_HANDLER, NVIDIA_DEVICE_PLUGIN, Chart

TIMEOUT_SECONDS = 600


class PlatformControllersArgs(ComponentArgs):
    config: PlatformConfig
    pools: list[PoolConfig]
    cluster_name: str
    region: str
    kubernetes_version: str
    autoscaler_role_arn: InputStr
    termination_handler_role_arn: InputStr
    interruption_queue_url: InputStr
    provider: Any
    """The stack's Kubernetes provider (KubernetesAccess.provider)."""
    wait_for: list[Any] = []
    """Resources the releases need first: the system nodes and the add-ons (pods need nodes and a CNI)."""


class PlatformControllers(pulumi.ComponentResource):
    releases: dict[str, Release]

    def __init__(self, name: str, args: PlatformControllersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:platform:PlatformControllers", name, None, opts)
        # Namespaces need only the API server; the releases also need nodes and a CNI for their pods.
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespaces = ConfigGroup(f"{name}-namespaces", objs=platform_manifests(), opts=in_cluster)
        after = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[namespaces, *args.wait_for])

        def release(key: str, chart: Chart, namespace: str, values: Any) -> Release:
            return Release(
                f"{name}-{key}",
                name=key,
                chart=chart.name,
                version=chart.version,
                namespace=namespace,
                create_namespace=False,
                values=values,
                atomic=True,
                cleanup_on_fail=True,
                max_history=5,
                timeout=TIMEOUT_SECONDS,
                repository_opts={"repo": chart.repository} if chart.repository else None,
                opts=after,
            )

        cfg = args.config
        self.releases = {
            "nvidia-device-plugin": release(
                "nvidia-device-plugin", NVIDIA_DEVICE_PLUGIN, DEVICE_PLUGIN_NAMESPACE, device_plugin_values(args.pools)
            ),
            "cluster-autoscaler": release(
                "cluster-autoscaler",
                CLUSTER_AUTOSCALER,
                PLATFORM_NAMESPACE,
                pulumi.Output.from_input(args.autoscaler_role_arn).apply(
                    lambda arn: cluster_autoscaler_values(
                        cluster_name=args.cluster_name,
                        region=args.region,
                        kubernetes_version=args.kubernetes_version,
                        role_arn=arn,
                        config=cfg.autoscaler,
                    )
                ),
            ),
            "keda": release("keda", KEDA, PLATFORM_NAMESPACE, keda_values()),
            "aws-node-termination-handler": release(
                "aws-node-termination-handler",
                NODE_TERMINATION_HANDLER,
                PLATFORM_NAMESPACE,
                pulumi.Output.all(args.interruption_queue_url, args.termination_handler_role_arn).apply(
                    lambda v: node_termination_handler_values(
                        region=args.region,
                        queue_url=v[0],
                        role_arn=v[1],
                        config=cfg.interruption,
                        # Two replicas when there are two system nodes, so a node's loss or upgrade
                        # never leaves interruptions unhandled; SQS hands each message to one of them.
                        replicas=min(2, cfg.system_nodes.min_size),
                    )
                ),
            ),
        }
        self.register_outputs({})
