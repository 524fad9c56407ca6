"""What the platform puts on the cluster, as plain data: Helm values, raw manifests, the kubeconfig.

Pure (no Pulumi import): every builder takes typed config and resolved strings and returns dicts,
so tests read them directly and `tests/infra/test_platform_manifests.py` validates the manifests
against the Kubernetes OpenAPI schema and scans them with checkov.

Placement: every controller runs on the system nodes (`SYSTEM_NODE_LABEL`), except the NVIDIA
device plugin, a DaemonSet that must run on each GPU node and tolerates their taints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infra.config import AutoscalerConfig, InterruptionConfig, PoolConfig
from infra.platform_versions import cluster_autoscaler_image_tag

SYSTEM_NODE_LABEL = ("frugal.dev/node-role", "system")
GPU_POOL_LABEL = "frugal.dev/pool"
"""Every GPU node carries it (infra/components/gpu_node_pool.py); system nodes never do."""
PLATFORM_NAMESPACE = "frugal-platform"
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
NTH_SERVICE_ACCOUNT = "aws-node-termination-handler"
NTH_MANAGED_TAG = "aws-node-termination-handler/managed"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Pod Security Admission: the controllers' namespace enforces `baseline` and reports `restricted`
# (their values below meet restricted, but rendered charts cannot be checked offline, and a
# controller blocked by a detail of a chart upgrade would leave the cluster unable to scale);
# the device plugin's namespace must be `privileged` because it mounts the kubelet's host paths.
POD_SECURITY_VERSION = "latest"

_RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
_CONTAINER_HARDENED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def system_node_selector() -> dict[str, str]:
    key, value = SYSTEM_NODE_LABEL
    return {key: value}


def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    # A memory limit (a leak is killed, not the node) but no CPU limit (throttling a controller
    # delays scaling and drains; requests already reserve its share).
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def device_plugin_values(pools: Sequence[PoolConfig]) -> dict[str, Any]:
    """NVIDIA device plugin: on every GPU node (whatever its extra taints), nowhere else."""
    tolerations: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for pool in pools:
        for taint in pool.all_taints:
            ident = (taint.key, taint.value, taint.effect)
            if ident in seen:
                continue
            seen.add(ident)
            tolerations.append({"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect})
    return {
        # The chart's default affinity waits for labels from node-feature-discovery, which this
        # platform does not run; the GPU pool label is there from registration instead.
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": GPU_POOL_LABEL, "operator": "Exists"}]}]
                }
            }
        },
        "tolerations": tolerations,
        "priorityClassName": "system-node-critical",
        "resources": _resources("50m", "64Mi", "256Mi"),
        # It runs as root to create its socket in the kubelet's device-plugin directory, but needs
        # no Linux capability and no privilege escalation (NVIDIA's static manifest does the same).
        "podSecurityContext": {"seccompProfile": _RUNTIME_DEFAULT},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": _RUNTIME_DEFAULT,
        },
        "gfd": {"enabled": False},
    }


def cluster_autoscaler_values(
    *, cluster_name: str, region: str, kubernetes_version: str, role_arn: str, config: AutoscalerConfig
) -> dict[str, Any]:
    """Cluster autoscaler: discovers this cluster's groups by tag, tuned for slow, expensive GPU nodes."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {
            "clusterName": cluster_name,
            "tags": ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{cluster_name}"],
        },
        "image": {"tag": cluster_autoscaler_image_tag(kubernetes_version)},
        "rbac": {"serviceAccount": {"name": AUTOSCALER_SERVICE_ACCOUNT, "annotations": {IRSA_ANNOTATION: role_arn}}},
        "extraArgs": {
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 2,
            # A GPU node takes minutes to become useful (AMI boot, driver, a multi-GB image, model
            # load); removing it after a short lull only to add it back costs more than it saves.
            "scale-down-unneeded-time": f"{config.scale_down_unneeded_minutes}m",
            "scale-down-delay-after-add": f"{config.scale_down_delay_after_add_minutes}m",
            # Spot capacity for GPUs can be slow to arrive; give up on a group only after this long.
            "max-node-provision-time": f"{config.max_node_provision_minutes}m",
            # Cheapest fit first across the pools a pending pod could use.
            "expander": "least-waste",
            # Model servers keep downloaded weights in emptyDir; that must not pin an idle GPU node.
            "skip-nodes-with-local-storage": False,
            # The device plugin and node agents run on every node; they do not make a node "used".
            "ignore-daemonsets-utilization": True,
        },
        "nodeSelector": system_node_selector(),
        "priorityClassName": "system-cluster-critical",
        "resources": _resources("100m", "300Mi", "600Mi"),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": _RUNTIME_DEFAULT,
        },
        "containerSecurityContext": _CONTAINER_HARDENED,
    }


def keda_values() -> dict[str, Any]:
    """KEDA: the operator, its metrics server and admission webhooks, on system nodes."""
    parts = ("operator", "metricServer", "webhooks")
    return {
        "nodeSelector": system_node_selector(),
        "resources": {part: _resources("100m", "128Mi", "512Mi") for part in parts},
        "podSecurityContext": {part: {"runAsNonRoot": True, "seccompProfile": _RUNTIME_DEFAULT} for part in parts},
        "securityContext": {part: {**_CONTAINER_HARDENED, "seccompProfile": _RUNTIME_DEFAULT} for part in parts},
    }


def node_termination_handler_values(
    *, region: str, queue_url: str, role_arn: str, config: InterruptionConfig, replicas: int
) -> dict[str, Any]:
    """aws-node-termination-handler in queue-processor mode, draining only nodes tagged as managed."""
    values: dict[str, Any] = {
        "enableSqsTerminationDraining": True,
        "queueURL": queue_url,
        "awsRegion": region,
        # Spot warnings and state changes arrive for every instance in the account; only nodes of
        # this stack's GPU groups carry the tag, so nothing else is ever drained.
        "checkTagBeforeDraining": True,
        "managedTag": NTH_MANAGED_TAG,
        # Events about instances of another cluster land in this queue too; they have no node here.
        "deleteSqsMsgIfNodeNotFound": True,
        "nodeTerminationGracePeriod": config.node_grace_seconds,
        "podTerminationGracePeriod": config.pod_grace_seconds,
        "emitKubernetesEvents": True,
        "replicas": replicas,
        "serviceAccount": {"name": NTH_SERVICE_ACCOUNT, "annotations": {IRSA_ANNOTATION: role_arn}},
        "nodeSelector": system_node_selector(),
        "priorityClassName": "system-cluster-critical",
        "resources": _resources("50m", "64Mi", "256Mi"),
        "podSecurityContext": {"fsGroup": 1000, "seccompProfile": _RUNTIME_DEFAULT},
        "securityContext": {**_CONTAINER_HARDENED, "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000},
    }
    if replicas > 1:
        values["podDisruptionBudget"] = {"maxUnavailable": 1}
    return values


def _pod_security(level: str, report: str) -> dict[str, str]:
    base = "pod-security.kubernetes.io"
    return {
        f"{base}/enforce": level,
        f"{base}/enforce-version": POD_SECURITY_VERSION,
        f"{base}/warn": report,
        f"{base}/warn-version": POD_SECURITY_VERSION,
        f"{base}/audit": report,
        f"{base}/audit-version": POD_SECURITY_VERSION,
    }


def platform_manifests() -> list[dict[str, Any]]:
    """The raw Kubernetes objects the platform creates (the Helm releases create the rest)."""
    managed = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "frugal-platform"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": PLATFORM_NAMESPACE, "labels": {**managed, **_pod_security("baseline", "restricted")}},
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": DEVICE_PLUGIN_NAMESPACE,
                "labels": {**managed, **_pod_security("privileged", "privileged")},
            },
        },
        # A backstop for any container a chart leaves without requests: the scheduler then still
        # reserves room for it on the small system nodes instead of overcommitting them.
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "container-defaults", "namespace": PLATFORM_NAMESPACE, "labels": managed},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                        "default": {"memory": "256Mi"},
                    }
                ]
            },
        },
    ]


def kubeconfig(*, cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig for the cluster that authenticates with `aws eks get-token` (no static token:
    each call mints a 15-minute token from whoever runs Pulumi)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        },
        sort_keys=True,
    )
