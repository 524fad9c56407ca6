"""How a tier's model servers scale: a KEDA ScaledObject with the schedule's replica floors (cron
triggers) and the gateway's demand for the tier (metrics-api trigger). Pure builders, no Pulumi.
"""

from __future__ import annotations

from typing import Any

from infra.config import PoolConfig, ServingTier, StackConfig
from infra.schedule import cron_recurrence, end_cron_recurrence
from infra.serving_common import ServingInputs, component_labels
from infra.serving_gateway import models_namespace, scaling_url, tier_service

SCALE_DOWN_STABILIZATION_SECONDS = 600
"""GPU nodes take minutes to come back: a tier scales down only after 10 minutes of lower demand."""


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
            "labels": component_labels("model-server", **{"frugal.dev/tier": tier.name}),
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
