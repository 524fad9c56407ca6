"""budget-guard-not-in-prod over real plans: the stacks as shipped, and a dev stack with the guard on
judged as production (config validation stops such a prod stack before any plan exists)."""

from __future__ import annotations

import pytest
from pulumi_policy.policy import _NotApplicableError

from infra.offline import run_offline
from infra.plan import Plan
from policies import alert_rules
from tests.fakes import Violations, as_engine_config, stack_args, stack_values


def run(args) -> Violations:
    found = Violations()
    alert_rules.budget_guard_not_in_prod(args, found)
    return found


@pytest.fixture(scope="module")
def guarded_plan() -> Plan:
    values = stack_values("dev")
    values["budget"]["slack_webhook_secret_name"] = "frugal/dev/slack-webhook-url"
    values["budget"]["guard"] = {"enabled": True, "gpu_max_size": 0}
    return run_offline("dev", config=as_engine_config(values))


def test_the_prod_stack_as_shipped_has_no_guard(prod_plan: Plan) -> None:
    assert run(stack_args(prod_plan)) == [], "prod's forwarder has the guard off and no resize permission"


def test_a_guard_judged_as_production_is_a_violation_on_the_function_and_its_permission(guarded_plan: Plan) -> None:
    found = run(stack_args(guarded_plan, {"environment": "prod"}))
    text = found.text()
    assert "function 'budget-delivery-forwarder'" in text and "budget guard enabled" in text, text
    assert "lets Lambda role 'budget-delivery-forwarder' resize auto-scaling groups" in text, text
    assert "fix: set budget.guard.enabled: false" in text, "the fix names the config key"
    assert len(found) == 2, f"one finding per offending resource: {found.messages}"


def test_the_guard_is_not_judged_outside_production(guarded_plan: Plan) -> None:
    with pytest.raises(_NotApplicableError):
        run(stack_args(guarded_plan))
