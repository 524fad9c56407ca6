"""The pack's rules as data, and the `pulumi_policy` Policy objects built from them.

Building the policies is cheap and side-effect free (only `PolicyPack(...)` starts the gRPC server),
so `policies/__main__.py` and `frugal policy` share this one list. Every rule defaults to
MANDATORY; the pack config of an environment relaxes or tightens it (policies/config.<env>.json).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from policies import alert_rules, cost_rules, kubernetes_rules, security_rules, serving_rules, stack_rules

PACK_NAME = "frugal-guardrails"
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class Rule:
    name: str
    area: Literal["cost", "security"]
    kind: Literal["resource", "stack"]
    validate: Callable[..., Any]
    severity: Severity
    config: dict[str, dict[str, Any]]

    @property
    def description(self) -> str:
        return (self.validate.__doc__ or self.name).strip().splitlines()[0]

    def policy(self) -> Policy:
        schema = PolicyConfigSchema(properties=self.config) if self.config else None
        cls = ResourceValidationPolicy if self.kind == "resource" else StackValidationPolicy
        return cls(
            name=self.name,
            description=self.description,
            validate=self.validate,
            enforcement_level=DEFAULT_ENFORCEMENT,
            config_schema=schema,
            severity=self.severity,
            tags=[self.area],
        )


H, M, C = Severity.HIGH, Severity.MEDIUM, Severity.CRITICAL
RULES: tuple[Rule, ...] = (
    # cost, per resource
    Rule("gpu-asg-mixed-instances", "cost", "resource", cost_rules.gpu_asg_mixed_instances, H, {}),
    Rule(
        "spot-allocation-strategy",
        "cost",
        "resource",
        cost_rules.spot_allocation_strategy,
        M,
        cost_rules.SPOT_STRATEGY_CONFIG,
    ),
    Rule("on-demand-share", "cost", "resource", cost_rules.on_demand_share, H, cost_rules.ON_DEMAND_SHARE_CONFIG),
    Rule(
        "spot-instance-diversity",
        "cost",
        "resource",
        cost_rules.spot_instance_diversity,
        M,
        cost_rules.SPOT_DIVERSITY_CONFIG,
    ),
    Rule("capacity-rebalance", "cost", "resource", cost_rules.capacity_rebalance, M, {}),
    Rule("asg-max-size", "cost", "resource", cost_rules.asg_max_size, H, cost_rules.MAX_SIZE_CONFIG),
    Rule(
        "gpu-instance-families", "cost", "resource", cost_rules.gpu_instance_families, M, cost_rules.GPU_FAMILIES_CONFIG
    ),
    Rule("cost-allocation-tags", "cost", "resource", cost_rules.cost_allocation_tags, M, cost_rules.TAGS_CONFIG),
    # cost, whole stack
    Rule("budget-with-alerts", "cost", "stack", stack_rules.budget_with_alerts, H, {}),
    Rule("non-prod-off-hours", "cost", "stack", stack_rules.non_prod_off_hours, M, stack_rules.OFF_HOURS_CONFIG),
    Rule(
        "expected-cost-within-budget",
        "cost",
        "stack",
        stack_rules.expected_cost_within_budget,
        H,
        stack_rules.COST_CONFIG,
    ),
    Rule(
        "budget-guard-not-in-prod", "cost", "stack", alert_rules.budget_guard_not_in_prod, H, alert_rules.GUARD_CONFIG
    ),
    # security, per resource
    Rule("imdsv2-required", "security", "resource", security_rules.imdsv2_required, C, {}),
    Rule("ebs-encrypted", "security", "resource", security_rules.ebs_encrypted, H, {}),
    Rule("sns-encrypted", "security", "resource", security_rules.sns_encrypted, M, {}),
    Rule("no-public-ssh", "security", "resource", security_rules.no_public_ssh, C, security_rules.SSH_CONFIG),
    Rule(
        "no-public-kubernetes-api",
        "security",
        "resource",
        security_rules.no_public_kubernetes_api,
        C,
        security_rules.K8S_API_CONFIG,
    ),
    Rule("eks-secrets-encryption", "security", "resource", security_rules.eks_secrets_encryption, H, {}),
    Rule(
        "eks-control-plane-logging",
        "security",
        "resource",
        security_rules.eks_control_plane_logging,
        M,
        security_rules.EKS_LOGGING_CONFIG,
    ),
    # security, whole stack
    Rule(
        "node-role-least-privilege",
        "security",
        "stack",
        stack_rules.node_role_least_privilege,
        H,
        stack_rules.NODE_ROLE_CONFIG,
    ),
    Rule("s3-public-access-blocked", "security", "stack", stack_rules.s3_public_access_blocked, C, {}),
    # what runs on the cluster (policies/kubernetes_rules.py)
    Rule(
        "helm-chart-pinned",
        "security",
        "resource",
        kubernetes_rules.helm_chart_pinned,
        H,
        kubernetes_rules.PINNED_CONFIG,
    ),
    Rule(
        "workload-runs-as-non-root",
        "security",
        "resource",
        kubernetes_rules.workload_runs_as_non_root,
        H,
        kubernetes_rules.NON_ROOT_CONFIG,
    ),
    Rule(
        "workload-resource-requests",
        "cost",
        "resource",
        kubernetes_rules.workload_resource_requests,
        M,
        kubernetes_rules.REQUESTS_CONFIG,
    ),
    Rule(
        "controllers-on-system-nodes",
        "cost",
        "resource",
        kubernetes_rules.controllers_on_system_nodes,
        M,
        kubernetes_rules.SYSTEM_NODES_CONFIG,
    ),
    Rule("interruption-queue-for-spot", "cost", "stack", kubernetes_rules.interruption_queue_for_spot, H, {}),
    # serving: GPU pods, probes, pinned images and models
    Rule(
        "gpu-pods-exact-and-tolerated", "cost", "resource", serving_rules.gpu_pods_request_exactly_and_tolerate, H, {}
    ),
    Rule("workload-probes", "security", "resource", serving_rules.workload_probes, M, {}),
    Rule("images-pinned", "security", "resource", serving_rules.images_pinned, H, serving_rules.IMAGE_CONFIG),
    Rule("models-pinned-by-sha256", "security", "resource", serving_rules.models_pinned_by_sha256, H, {}),
)
RULES_BY_NAME = {r.name: r for r in RULES}


def policies() -> list[Policy]:
    """The pack's policies, in RULES order (the engine runs and reports them in this order)."""
    return [rule.policy() for rule in RULES]
