"""The gateway's Kubernetes objects: ConfigMap (router.yaml), Secret (tenant keys), Deployment on the
system nodes, a Service (ClusterIP or an internal NLB), an internal Service for KEDA's scaling reads, a
NetworkPolicy and a PodDisruptionBudget. Pure builders, no Pulumi. The gateway's namespace enforces
Pod Security `restricted` (infra/serving_manifests.py).
"""

from __future__ import annotations

from typing import Any

from infra.serving_common import (
    HARDENED,
    IMAGE_PYTHON,
    POD_SECURITY,
    ServingInputs,
    component_labels,
    spread,
)
from infra.serving_gateway import GATEWAY_INTERNAL_PORT, GATEWAY_PORT

CONFIG_PATH = "/etc/frugal/router.yaml"
KEYS_SECRET = "gateway-tenant-keys"
KEYS_FILE = "tenant-keys.json"
KEYS_DIR = "/etc/frugal-keys"
GATEWAY_GRACE_MARGIN_SECONDS = 30
"""The gateway drains its streams for drain_seconds, then has this long to stop (infra/serving_common.py)."""


def gateway_config_map(inputs: ServingInputs, router_yaml: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "gateway-config",
            "namespace": inputs.serving.namespace,
            "labels": component_labels("gateway"),
        },
        "data": {"router.yaml": router_yaml},
    }


def tenant_keys_secret(namespace: str, keys_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": KEYS_SECRET, "namespace": namespace, "labels": component_labels("gateway")},
        "type": "Opaque",
        "stringData": {KEYS_FILE: keys_json},
    }


def gateway_command(has_tenant_keys: bool) -> list[str]:
    keys = ["--keys-file", f"{KEYS_DIR}/{KEYS_FILE}"] if has_tenant_keys else []
    return [IMAGE_PYTHON, "-m", "runtime.gateway_role", "--config", CONFIG_PATH, *keys]


def gateway_deployment(inputs: ServingInputs, config_hash: str) -> dict[str, Any]:
    s = inputs.serving
    g = s.gateway
    selector = {"app.kubernetes.io/name": "gateway"}
    labels = component_labels("gateway")
    env: list[dict[str, Any]] = [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}]
    keys_mount = [{"name": "tenant-keys", "mountPath": KEYS_DIR, "readOnly": True}] if inputs.has_tenant_keys else []
    keys_volume = (
        [{"name": "tenant-keys", "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o440}}]
        if inputs.has_tenant_keys
        else []
    )
    probe = {"port": "http"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gateway", "namespace": s.namespace, "labels": labels},
        "spec": {
            "replicas": g.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                # A changed config rolls the pods (a ConfigMap alone does not).
                "metadata": {"labels": labels, "annotations": {"frugal.dev/config-sha256": config_hash}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": g.drain_seconds + GATEWAY_GRACE_MARGIN_SECONDS,
                    "securityContext": dict(POD_SECURITY),
                    "nodeSelector": dict(inputs.system_node_selector),
                    "topologySpreadConstraints": spread(selector),
                    "containers": [
                        {
                            "name": "gateway",
                            "image": inputs.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": gateway_command(inputs.has_tenant_keys),
                            "env": env,
                            "ports": [
                                {"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"},
                            ],
                            "resources": {
                                "requests": {"cpu": g.cpu, "memory": g.memory},
                                "limits": {"memory": g.memory},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/healthz", **probe},
                                "periodSeconds": 2,
                                "failureThreshold": 60,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", **probe},
                                "periodSeconds": 5,
                                "timeoutSeconds": 2,
                                "failureThreshold": 2,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", **probe},
                                "periodSeconds": 10,
                                "timeoutSeconds": 3,
                                "failureThreshold": 3,
                            },
                            # The load balancer and endpoints stop sending before SIGTERM arrives; then
                            # the router finishes what is in flight within the rest of the grace.
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(g.drain_seconds)]}}},
                            "securityContext": HARDENED,
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/frugal", "readOnly": True},
                                {"name": "state", "mountPath": "/var/lib/frugal"},
                                {"name": "cache", "mountPath": "/var/cache/frugal"},
                                {"name": "tmp", "mountPath": "/tmp"},
                                *keys_mount,
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "gateway-config"}},
                        *keys_volume,
                        # The single-replica budget store (SQLite) when the stack has no ElastiCache:
                        # it survives container restarts, not the pod's replacement (docs/serving.md).
                        {"name": "state", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "cache", "emptyDir": {"sizeLimit": "2Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def gateway_objects(inputs: ServingInputs, router_yaml: str, config_hash: str) -> list[dict[str, Any]]:
    """ConfigMap, Deployment, the client Service, the internal Service and the PodDisruptionBudget."""
    s = inputs.serving
    g = s.gateway
    selector = {"app.kubernetes.io/name": "gateway"}
    labels = component_labels("gateway")
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gateway", "namespace": s.namespace, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    if g.exposure == "internal-nlb":
        service["metadata"]["annotations"] = {
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
            "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
        }
        service["spec"]["type"] = "LoadBalancer"
        service["spec"]["externalTrafficPolicy"] = "Local"
    return [
        gateway_config_map(inputs, router_yaml),
        gateway_deployment(inputs, config_hash),
        service,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "gateway-internal", "namespace": s.namespace, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    # The router serves its scaling figures on its one port (GET /internal/scaling/{tier}).
                    {"name": "internal", "port": GATEWAY_INTERNAL_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "gateway", "namespace": s.namespace, "labels": labels},
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress"],
                "ingress": [
                    # Clients (in-cluster, or the VPC through the NLB) and KEDA's scaling reads (queue
                    # depths only; the drain endpoint accepts loopback only): the router's one port.
                    {"ports": [{"port": GATEWAY_PORT, "protocol": "TCP"}]},
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "gateway", "namespace": s.namespace, "labels": labels},
            "spec": (
                {"minAvailable": max(1, g.replicas - 1), "selector": {"matchLabels": selector}}
                if g.replicas > 1
                else {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
            ),
        },
    ]
