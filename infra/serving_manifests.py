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

Built by infra/serving_models.py (model servers and their service account),
infra/serving_autoscaling.py (the ScaledObject), infra/serving_gateway_objects.py (the gateway), on the
shared inputs and hardening of infra/serving_common.py; this module adds the namespaces and the order.

tests/serving/test_manifests.py validates all of them against the Kubernetes OpenAPI schema and
scans them with checkov.
"""

from __future__ import annotations

from typing import Any

from infra.serving_common import MANAGED, ServingInputs
from infra.serving_gateway import models_namespace
from infra.serving_gateway_objects import gateway_objects
from infra.serving_models import model_server_objects, model_service_account


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


def all_manifests(inputs: ServingInputs, router_yaml: str, config_hash: str) -> list[dict[str, Any]]:
    """Every object but the Secret (which carries a secret value), in apply order."""
    out = [*namespaces(inputs), model_service_account(inputs)]
    for tier in inputs.serving.tiers:
        out.extend(model_server_objects(inputs, tier))
    out.extend(gateway_objects(inputs, router_yaml, config_hash))
    return out
