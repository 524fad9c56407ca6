"""What serving puts on the cluster, as plain Kubernetes manifests (dicts): pure builders, no Pulumi.

Two namespaces:
- `<namespace>` (the gateway): Pod Security `restricted` enforced;
- `<namespace>-models` (the model servers): `privileged` enforced, `restricted` warned and audited,
  because the node-local model cache is a hostPath volume, which every stricter level forbids. The
  pods themselves are non-root, drop every capability, and mount that one directory (read-only in
  the server, read-write only in the init step).

Per tier: a ServiceAccount for the model bucket (workload identity), a Deployment (init step
`python -m runtime.modelfetch`, then llama-server on one GPU of the tier's pool), a headless Service
the gateway resolves to the replicas, a PodDisruptionBudget, a NetworkPolicy (only the gateway
reaches the servers) and a KEDA ScaledObject (schedule floors + the gateway's queue figure).
The gateway: ConfigMap (router.yaml), Secret (tenant keys), Deployment on the system nodes, a
Service (ClusterIP or an internal NLB), an internal Service for KEDA, a PodDisruptionBudget.

tests/serving/test_manifests.py validates all of them against the Kubernetes OpenAPI schema and
scans them with checkov.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from infra.config import PoolConfig, ServingTier, StackConfig
from infra.platform_values import GPU_POOL_LABEL, IRSA_ANNOTATION, system_node_selector
from infra.schedule import cron_recurrence, end_cron_recurrence
from infra.serving_gateway import (
    GATEWAY_INTERNAL_PORT,
    GATEWAY_PORT,
    MODEL_PORT,
    models_namespace,
    scaling_url,
    tier_service,
)
from infra.serving_sizing import mebibytes, memory_needs

IMAGE_PYTHON = "/opt/frugal/venv/bin/python"
IMAGE_LLAMA_SERVER = "/app/llama-server"
RUNTIME_UID = 10001
CACHE_MOUNT = "/var/cache/frugal-models"
"""Where the node's model cache appears inside the model-server pods."""
NODE_CACHE_DIR = "/mnt/frugal-models"
"""Where the GPU nodes mount their instance-store NVMe (infra/userdata.py)."""
LIFECYCLE_LABEL = "frugal.dev/lifecycle"
ZONE_LABEL = "topology.kubernetes.io/zone"
MODEL_SERVICE_ACCOUNT = "model-server"
CONFIG_PATH = "/etc/frugal/router.yaml"
KEYS_SECRET = "gateway-tenant-keys"
KEYS_FILE = "tenant-keys.json"
KEYS_DIR = "/etc/frugal-keys"
"""Where the platform runs KEDA, whose metrics-api scaler reads the gateway's internal port."""
# A spot reclaim gives 120 s notice; the termination handler drains pods within 90 s (its pod
# grace) so the node's last 30 s are spare. A model server stops in seconds; a gateway drains its
# streams first, within the same bound.
MODEL_SERVER_GRACE_SECONDS = 60
GATEWAY_GRACE_MARGIN_SECONDS = 30
SPOT_NOTICE_SECONDS = 120
# Model load time budget for the startup probe: the weights are read from the node's NVMe (the
# init step already fetched them) and copied to the GPU; 10 s per GiB plus 120 s is far above
# measured NVMe and PCIe rates, so only a server that is really stuck fails it.
STARTUP_BASE_SECONDS = 120
STARTUP_SECONDS_PER_GIB = 10
SCALE_DOWN_STABILIZATION_SECONDS = 600
"""GPU nodes take minutes to come back: a tier scales down only after 10 minutes of lower demand."""
MANAGED = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "frugal"}
_RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
_HARDENED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": RUNTIME_UID,
    "runAsGroup": RUNTIME_UID,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": _RUNTIME_DEFAULT,
}


@dataclass(frozen=True)
class ServingInputs:
    """Everything the manifests need that the stack resolves: the image, where each model is, roles."""

    cfg: StackConfig
    image: str
    model_uris: dict[str, str]
    """Tier name -> s3://bucket/key of its model (the uploaded object for a local file)."""
    model_reader_role_arn: str
    system_node_selector: dict[str, str] = field(default_factory=system_node_selector)
    has_tenant_keys: bool = True

    @property
    def serving(self) -> Any:
        assert self.cfg.serving is not None, "manifests exist only for a stack with a serving section"
        return self.cfg.serving

    def pool(self, tier: ServingTier) -> PoolConfig:
        return next(p for p in self.cfg.pools if p.name == tier.pool)


def _labels(component: str, **extra: str) -> dict[str, str]:
    return {**MANAGED, "app.kubernetes.io/name": component, **extra}


def _pod_security(enforce: str) -> dict[str, str]:
    base = "pod-security.kubernetes.io"
    return {
        f"{base}/enforce": enforce,
        f"{base}/enforce-version": "latest",
        f"{base}/warn": "restricted",
        f"{base}/warn-version": "latest",
        f"{base}/audit": "restricted",
        f"{base}/audit-version": "latest",
    }


def namespaces(inputs: ServingInputs) -> list[dict[str, Any]]:
    s = inputs.serving
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": s.namespace, "labels": {**MANAGED, **_pod_security("restricted")}},
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": models_namespace(s), "labels": {**MANAGED, **_pod_security("privileged")}},
        },
    ]


# --- model servers -----------------------------------------------------------------------------


def llama_server_args(tier: ServingTier, model_path: str) -> list[str]:
    return [
        "--model", model_path,
        "--alias", tier.model.name,
        "--host", "0.0.0.0",
        "--port", str(MODEL_PORT),
        "--ctx-size", str(tier.ctx_size),
        "--parallel", str(tier.parallel),
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
    labels = _labels("model-server", **{"frugal.dev/tier": tier.name})
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
        "args": llama_server_args(tier, model_path(tier)),
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
        "securityContext": _HARDENED,
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
        "securityContext": _HARDENED,
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
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNTIME_UID,
                        "runAsGroup": RUNTIME_UID,
                        "fsGroup": RUNTIME_UID,
                        "seccompProfile": _RUNTIME_DEFAULT,
                    },
                    "nodeSelector": {GPU_POOL_LABEL: pool.name},
                    "affinity": _affinity(tier),
                    "tolerations": [
                        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
                        for t in pool.all_taints
                    ],
                    # Zones first (a zone's spot capacity can vanish at once), then nodes; spread
                    # is preferred, never required, so scarce GPUs are used rather than left idle.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": key,
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                        for key in (ZONE_LABEL, "kubernetes.io/hostname")
                    ],
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
    labels = _labels("model-server", **{"frugal.dev/tier": tier.name})
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


# --- scaling -----------------------------------------------------------------------------------


def replica_floors(cfg: StackConfig, tier: ServingTier, pool: PoolConfig) -> list[tuple[Any, int]]:
    """(period, replicas) for every schedule period that keeps more than the tier's minimum running.

    One source of truth with the ASG scheduled actions: a period's desired node count (else its min)
    for the tier's pool, times the fewest GPUs a node of the pool has, within the tier's replicas.
    """
    from infra.config import gpus_for

    if cfg.schedule is None:
        return []
    gpus = min(gpus_for(t) for t in pool.instance_types)
    floors = []
    for period in cfg.schedule.periods:
        cap = period.capacity.get(pool.name)
        if cap is None:
            continue
        nodes = cap.desired if cap.desired is not None else cap.min
        if nodes is None:
            continue
        replicas = max(tier.replicas.min, min(tier.replicas.max, nodes * gpus))
        if replicas > tier.replicas.min:
            floors.append((period, replicas))
    return floors


def scaled_object(inputs: ServingInputs, tier: ServingTier) -> dict[str, Any]:
    cfg = inputs.cfg
    pool = inputs.pool(tier)
    triggers: list[dict[str, Any]] = []
    for period, replicas in replica_floors(cfg, tier, pool):
        assert cfg.schedule is not None
        triggers.append(
            {
                "type": "cron",
                "name": f"floor-{period.name}",
                "metadata": {
                    "timezone": cfg.schedule.time_zone,
                    "start": cron_recurrence(period.window),
                    "end": end_cron_recurrence(period.window),
                    "desiredReplicas": str(replicas),
                },
            }
        )
    triggers.append(
        {
            "type": "metrics-api",
            "name": "gateway-demand",
            # Replicas = ceil(demand / slots per replica): in-flight plus queued requests for the tier,
            # summed over the gateway replicas. Any demand wakes a tier at zero (activation above 0).
            "metricType": "AverageValue",
            "metadata": {
                "url": scaling_url(inputs.serving, tier),
                "valueLocation": "demand",
                "targetValue": str(tier.parallel),
                "activationTargetValue": "0",
                "format": "json",
            },
        }
    )
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": tier_service(tier),
            "namespace": models_namespace(inputs.serving),
            "labels": _labels("model-server", **{"frugal.dev/tier": tier.name}),
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": tier_service(tier)},
            "minReplicaCount": tier.replicas.min,
            "maxReplicaCount": tier.replicas.max,
            "pollingInterval": 15,
            "cooldownPeriod": SCALE_DOWN_STABILIZATION_SECONDS,
            # Until the gateway answers, hold the tier at its minimum: a broken metric never buys GPUs.
            "fallback": {"failureThreshold": 3, "replicas": tier.replicas.min},
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": SCALE_DOWN_STABILIZATION_SECONDS,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                        }
                    }
                }
            },
            "triggers": triggers,
        },
    }


# --- gateway -----------------------------------------------------------------------------------


def gateway_config_map(inputs: ServingInputs, router_yaml: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gateway-config", "namespace": inputs.serving.namespace, "labels": _labels("gateway")},
        "data": {"router.yaml": router_yaml},
    }


def tenant_keys_secret(namespace: str, keys_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": KEYS_SECRET, "namespace": namespace, "labels": _labels("gateway")},
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
    labels = _labels("gateway")
    env: list[dict[str, Any]] = [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}]
    keys_mount = [{"name": "tenant-keys", "mountPath": KEYS_DIR, "readOnly": True}] if inputs.has_tenant_keys else []
    keys_volume = (
        [{"name": "tenant-keys", "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o440}}]
        if inputs.has_tenant_keys
        else []
    )
    probe = {"port": "http"}
    spread: list[dict[str, Any]] = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }
        for key in (ZONE_LABEL, "kubernetes.io/hostname")
    ]
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
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNTIME_UID,
                        "runAsGroup": RUNTIME_UID,
                        "fsGroup": RUNTIME_UID,
                        "seccompProfile": _RUNTIME_DEFAULT,
                    },
                    "nodeSelector": dict(inputs.system_node_selector),
                    "topologySpreadConstraints": spread,
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
                            "securityContext": _HARDENED,
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
    labels = _labels("gateway")
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


def model_service_account(inputs: ServingInputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": MODEL_SERVICE_ACCOUNT,
            "namespace": models_namespace(inputs.serving),
            "labels": _labels("model-server"),
            "annotations": {IRSA_ANNOTATION: inputs.model_reader_role_arn},
        },
        "automountServiceAccountToken": False,
    }


def all_manifests(inputs: ServingInputs, router_yaml: str, config_hash: str) -> list[dict[str, Any]]:
    """Every object but the Secret (which carries a secret value), in apply order."""
    out = [*namespaces(inputs), model_service_account(inputs)]
    for tier in inputs.serving.tiers:
        out.extend(model_server_objects(inputs, tier))
    out.extend(gateway_objects(inputs, router_yaml, config_hash))
    return out
