"""The budget guard stays out of production.

The alert forwarder can cap GPU groups on a FORECASTED budget breach (opt-in, config
`budget.guard`). Config validation refuses it on a prod stack; this rule refuses it again on
whatever the engine sees: a forwarder whose context enables the guard, or a Lambda-trusted role
allowed to resize auto-scaling groups, in a production environment.
"""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from infra.tokens import IAM_ROLE, IAM_ROLE_POLICY, LAMBDA_FUNCTION
from policies.cost_rules import ENVIRONMENT
from policies.props import get, known, message, settings, stack_environment
from policies.stack_rules import _as_list, _linked, _statements, _trusts

FUNCTION = LAMBDA_FUNCTION
CONTEXT_VAR = "FRUGAL_ALERT_CONTEXT"
RESIZE_ACTIONS = {"autoscaling:updateautoscalinggroup", "autoscaling:*", "*"}

GUARD_CONFIG: dict[str, dict[str, Any]] = {
    "prodEnvironments": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["prod"],
        "description": "environments where nothing may cap capacity automatically",
    },
    "environment": ENVIRONMENT,
}


def _guard_enabled(function: PolicyResource) -> bool:
    is_known, raw = known(function.props, "environment", "variables", CONTEXT_VAR)
    if not is_known or not isinstance(raw, str):
        return False
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        return False
    return isinstance(doc, dict) and (doc.get("guard") or {}).get("enabled") is True


def _resizes_groups(policy: PolicyResource) -> bool:
    for statement in _statements(known(policy.props, "policy")[1]):
        if isinstance(statement, dict) and statement.get("Effect") == "Allow":
            actions = {str(a).lower() for a in _as_list(statement.get("Action"))}
            if actions & RESIZE_ACTIONS:
                return True
    return False


def budget_guard_not_in_prod(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """No automatic capacity cap (the budget guard) in a production stack."""
    cfg = settings(args.get_config(), GUARD_CONFIG)
    env = stack_environment(cfg, [r.props for r in args.resources], args.stack_tags)
    if env not in cfg["prodEnvironments"]:
        args.not_applicable(f"environment '{env}' is not production (config prodEnvironments)")
    fix = "set budget.guard.enabled: false (or remove budget.guard) in Pulumi.<stack>.yaml; the guard is for non-prod"
    limit = "no budget guard in production: an automatic cap there turns an overspend into an outage"
    for function in [r for r in args.resources if r.resource_type == FUNCTION]:
        if _guard_enabled(function):
            report_violation(
                message(
                    "budget-guard-not-in-prod",
                    f"function '{function.name}' in environment '{env}' has the budget guard enabled ({CONTEXT_VAR})",
                    limit,
                    fix,
                ),
                function.urn,
            )
    lambda_roles = [r for r in args.resources if r.resource_type == IAM_ROLE and _trusts(r, ["lambda.amazonaws.com"])]
    for policy in [r for r in args.resources if r.resource_type == IAM_ROLE_POLICY]:
        role = next((r for r in lambda_roles if _linked(policy, "role", r, "name", "id")), None)
        if role is not None and _resizes_groups(policy):
            report_violation(
                message(
                    "budget-guard-not-in-prod",
                    f"role policy '{policy.name}' lets Lambda role '{role.name}' resize auto-scaling groups "
                    f"({get(policy.props, 'name', default=policy.name)}) in environment '{env}'",
                    limit,
                    fix,
                ),
                policy.urn,
            )
