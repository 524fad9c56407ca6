"""What every serving manifest shares: the stack's resolved inputs, the image's paths, labels, hardening.

Pure (no Pulumi). The objects themselves are built by infra/serving_models.py (model servers),
infra/serving_autoscaling.py (KEDA), infra/serving_gateway_objects.py (the gateway), and assembled in
apply order by infra/serving_manifests.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.config import PoolConfig, ServingTier, StackConfig
from infra.platform_values import system_node_selector

IMAGE_PYTHON = "/opt/frugal/venv/bin/python"
RUNTIME_UID = 10001
ZONE_LABEL = "topology.kubernetes.io/zone"
# A spot reclaim gives 120 s notice; the termination handler drains pods within 90 s (its pod
# grace) so the node's last 30 s are spare. A model server stops in seconds; a gateway drains its
# streams first, within the same bound.
SPOT_NOTICE_SECONDS = 120
MANAGED = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "frugal"}
RUNTIME_DEFAULT = {"type": "RuntimeDefault"}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUNTIME_UID,
    "runAsGroup": RUNTIME_UID,
    "fsGroup": RUNTIME_UID,
    "seccompProfile": RUNTIME_DEFAULT,
}
"""The pod-level security context of every serving pod (containers add HARDENED)."""
HARDENED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": RUNTIME_UID,
    "runAsGroup": RUNTIME_UID,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": RUNTIME_DEFAULT,
}
"""The container security context of every serving container."""


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


def component_labels(component: str, **extra: str) -> dict[str, str]:
    return {**MANAGED, "app.kubernetes.io/name": component, **extra}


def spread(selector: dict[str, str]) -> list[dict[str, Any]]:
    """Zones first (a zone's spot capacity can vanish at once), then nodes; spread is preferred, never
    required, so scarce GPUs are used rather than left idle."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }
        for key in (ZONE_LABEL, "kubernetes.io/hostname")
    ]
