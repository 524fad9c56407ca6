"""The model servers' Kubernetes objects, per tier: Deployment (init step `python -m runtime.modelfetch`,
then llama-server on one GPU of the tier's pool), headless Service, PodDisruptionBudget, NetworkPolicy
(only the gateway reaches the servers), the KEDA ScaledObject (infra/serving_autoscaling.py); and the
service account that reads the model bucket (workload identity). Pure builders, no Pulumi.

The pods run in `<namespace>-models` (Pod Security `privileged` enforced, infra/serving_manifests.py)
because the node-local model cache is a hostPath volume; the pods themselves are non-root, drop every
capability, and mount that one directory (read-only in the server, read-write only in the init step).
"""

from __future__ import annotations

import math
from typing import Any

from infra.config import PoolConfig, ServingTier
from infra.platform_values import GPU_POOL_LABEL, IRSA_ANNOTATION
from infra.serving_autoscaling import scaled_object
from infra.serving_common import (
    HARDENED,
    IMAGE_PYTHON,
    POD_SECURITY,
    ServingInputs,
    component_labels,
    spread,
)
from infra.serving_gateway import MODEL_PORT, models_namespace, tier_service
from infra.serving_sizing import mebibytes, memory_needs

IMAGE_LLAMA_SERVER = "/app/llama-server"
CACHE_MOUNT = "/var/cache/frugal-models"
"""Where the node's model cache appears inside the model-server pods."""
NODE_CACHE_DIR = "/mnt/frugal-models"
"""Where the GPU nodes mount their instance-store NVMe (infra/userdata.py)."""
LIFECYCLE_LABEL = "frugal.dev/lifecycle"
MODEL_SERVICE_ACCOUNT = "model-server"
MODEL_SERVER_GRACE_SECONDS = 60
"""A model server stops in seconds; well within the spot notice (infra/serving_common.py)."""
# Model load time budget for the startup probe: the weights are read from the node's NVMe (the
# init step already fetched them) and copied to the GPU; 10 s per GiB plus 120 s is far above
# measured NVMe and PCIe rates, so only a server that is really stuck fails it.
STARTUP_BASE_SECONDS = 120
STARTUP_SECONDS_PER_GIB = 10


def http_threads(tier: ServingTier, gateway_replicas: int) -> int:
    """llama-server's HTTP threads. It serves HTTP from a fixed pool (default max(parallel + 2,
    cores - 1)) and a keep-alive connection holds a thread even while idle, so the pool must cover
    every gateway replica's connections to this server: up to `parallel` streams and `parallel`
    whole-answer connections (two client pools), one probe, plus two for the kubelet's probes."""
    return gateway_replicas * (2 * tier.parallel + 1) + 2


def llama_server_args(tier: ServingTier, model_path: str, gateway_replicas: int) -> list[str]:
    return [
        "--model", model_path,
        "--alias", tier.model.name,
        "--host", "0.0.0.0",
        "--port", str(MODEL_PORT),
        "--ctx-size", str(tier.ctx_size),
        "--parallel", str(tier.parallel),
        "--threads-http", str(http_threads(tier, gateway_replicas)),
        "--n-gpu-layers", str(tier.n_gpu_layers),
        "--cache-type-k", tier.kv_cache_type,
        "--cache-type-v", tier.kv_cache_type,
        "--flash-attn", "on" if tier.flash_attn else "off",
        "--slots",
        "--metrics",
        "--no-webui",
    ]  # fmt: skip


def model_path(tier: ServingTier) -> str:
    return f"{CACHE_MOUNT}/{tier.model.sha256}.gguf"


def fetch_args(tier: ServingTier, uri: str) -> list[str]:
    return [
        "-m", "runtime.modelfetch",
        "--uri", uri,
        "--sha256", str(tier.model.sha256),
        "--size", str(tier.model.size_bytes),
        "--cache-dir", CACHE_MOUNT,
    ]  # fmt: skip


def _cpu_per_server(pool: PoolConfig) -> str:
    from infra.catalog import load_catalog

    catalog = load_catalog()
    per_gpu = []
    for itype in pool.instance_types:
        spec = catalog.get(itype)
        if spec is not None and spec.gpu is not None and spec.vcpu:
            per_gpu.append(spec.vcpu / spec.gpu.count)
    # Half the vCPUs that come with each GPU (the rest is for the node's agents), 1 to 8.
    return str(max(1, min(8, int(min(per_gpu, default=2) // 2))))


def _affinity(tier: ServingTier) -> dict[str, Any]:
    if tier.capacity == "on-demand":
        required = {"key": LIFECYCLE_LABEL, "operator": "In", "values": ["on-demand"]}
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [required]}]
                }
            }
        }
    preferred = {"key": LIFECYCLE_LABEL, "operator": "In", "values": ["spot"]}
    return {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [preferred]}}
            ]
        }
    }


def startup_seconds(tier: ServingTier) -> int:
    gib = (tier.model.size_bytes or 0) / 1024**3
    return int(STARTUP_BASE_SECONDS + STARTUP_SECONDS_PER_GIB * math.ceil(gib))


def model_server_deployment(inputs: ServingInputs, tier: ServingTier) -> dict[str, Any]:
    pool = inputs.pool(tier)
    needs = memory_needs(tier)
    assert needs is not None, f"tier {tier.name}: the model's size and shape are resolved before manifests"
    name = tier_service(tier)
    labels = component_labels("model-server", **{"frugal.dev/tier": tier.name})
    selector = {"app.kubernetes.io/name": "model-server", "frugal.dev/tier": tier.name}
    env = [
        {"name": "AWS_REGION", "value": inputs.cfg.region},
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    period = 10
    probe_http = {"port": "http"}
    container = {
        "name": "llama-server",
        "image": inputs.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [IMAGE_LLAMA_SERVER],
        "args": llama_server_args(tier, model_path(tier), inputs.serving.gateway.replicas),
        "ports": [{"name": "http", "containerPort": MODEL_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {
                "cpu": _cpu_per_server(pool),
                "memory": mebibytes(needs.host_request_bytes),
                "nvidia.com/gpu": "1",
            },
            "limits": {"memory": mebibytes(needs.host_limit_bytes), "nvidia.com/gpu": "1"},
        },
        "startupProbe": {
            "httpGet": {"path": "/health", **probe_http},
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(startup_seconds(tier) / period),
        },
        # 503 while loading or when every slot is taken is "not ready"; the gateway stops sending.
        "readinessProbe": {
            "httpGet": {"path": "/health", **probe_http},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
        # /health can stay 200 while the server's task loop is wedged; /slots goes through that loop,
        # so a /slots that does not answer within 10 s, three times running, restarts the server.
        "livenessProbe": {
            "httpGet": {"path": "/slots", **probe_http},
            "periodSeconds": 30,
            "timeoutSeconds": 10,
            "failureThreshold": 3,
        },
        # Out of the Service's DNS before llama-server stops, so the gateway sends nothing new to it.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "securityContext": HARDENED,
        "volumeMounts": [
            {"name": "model-cache", "mountPath": CACHE_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    fetch = {
        "name": "model-fetch",
        "image": inputs.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [IMAGE_PYTHON],
        "args": fetch_args(tier, inputs.model_uris[tier.name]),
        "env": env,
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": HARDENED,
        "volumeMounts": [{"name": "model-cache", "mountPath": CACHE_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": models_namespace(inputs.serving),
            "labels": labels,
            "annotations": {
                "frugal.dev/model-sha256": str(tier.model.sha256),
                "frugal.dev/gpu-memory-mib": str(math.ceil(needs.gpu_bytes / 1024**2)),
            },
        },
        "spec": {
            "replicas": tier.replicas.min,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            # A GPU is scarce: a rollout replaces one server at a time and never asks for an extra GPU.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": MODEL_SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": MODEL_SERVER_GRACE_SECONDS,
                    "securityContext": dict(POD_SECURITY),
                    "nodeSelector": {GPU_POOL_LABEL: pool.name},
                    "affinity": _affinity(tier),
                    "tolerations": [
                        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
                        for t in pool.all_taints
                    ],
                    "topologySpreadConstraints": spread(selector),
                    "initContainers": [fetch],
                    "containers": [container],
                    "volumes": [
                        {"name": "model-cache", "hostPath": {"path": NODE_CACHE_DIR, "type": "Directory"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def model_server_objects(inputs: ServingInputs, tier: ServingTier) -> list[dict[str, Any]]:
    """Deployment, headless Service, PodDisruptionBudget, NetworkPolicy and ScaledObject of one tier."""
    ns = models_namespace(inputs.serving)
    name = tier_service(tier)
    selector = {"app.kubernetes.io/name": "model-server", "frugal.dev/tier": tier.name}
    labels = component_labels("model-server", **{"frugal.dev/tier": tier.name})
    return [
        model_server_deployment(inputs, tier),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                # Headless: the name resolves to every ready replica, which the gateway balances over.
                "clusterIP": "None",
                "selector": selector,
                "ports": [{"name": "http", "port": MODEL_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": inputs.serving.namespace}
                                },
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}},
                            }
                        ],
                        "ports": [{"port": MODEL_PORT, "protocol": "TCP"}],
                    }
                ],
            },
        },
        scaled_object(inputs, tier),
    ]


def model_service_account(inputs: ServingInputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": MODEL_SERVICE_ACCOUNT,
            "namespace": models_namespace(inputs.serving),
            "labels": component_labels("model-server"),
            "annotations": {IRSA_ANNOTATION: inputs.model_reader_role_arn},
        },
        "automountServiceAccountToken": False,
    }
