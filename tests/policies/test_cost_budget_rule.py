"""expected-cost-within-budget: the real cost model (infra.cost) against the plan's own budget."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pulumi_policy.policy import _NotApplicableError

from infra.cost import expected_monthly_cost
from infra.plan import Plan
from policies import stack_rules
from policies.adapter import plan_from_stack
from tests.fakes import Violations, changed, one, stack_args

BUDGET = "aws:budgets/budget:Budget"


def with_limit(plan: Plan, amount: str) -> Plan:
    budget = one(plan, BUDGET)
    new = budget.model_copy(update={"inputs": changed(budget.inputs, {"limitAmount": amount})})
    return plan.model_copy(update={"resources": [new if r.urn == budget.urn else r for r in plan.resources]})


def expected(plan: Plan) -> Decimal:
    cost = expected_monthly_cost(plan_from_stack(stack_args(plan)))
    assert cost is not None and cost > 0, f"the cost model prices the {plan.stack} stack"
    return cost


def test_dev_and_prod_are_expected_to_cost_less_than_their_budgets(any_plan: Plan) -> None:
    found = Violations()
    stack_rules.expected_cost_within_budget(stack_args(any_plan), found)
    assert found == [], f"{any_plan.stack}: expected {expected(any_plan)} is within its budget"


def test_a_budget_below_the_expected_cost_is_a_violation_on_the_budget(dev_plan: Plan) -> None:
    cost = expected(dev_plan)
    found = Violations()
    stack_rules.expected_cost_within_budget(stack_args(with_limit(dev_plan, "1")), found)
    assert len(found) == 1, "one violation for the one budget"
    message, urn = found[0]
    assert f"the expected monthly cost is ${cost:,.2f}, above budget 'budget-monthly' of $1.00" in message, message
    assert urn == one(dev_plan, BUDGET).urn, "the violation points at the budget"


def test_the_config_can_keep_headroom_below_the_budget(dev_plan: Plan) -> None:
    cost = expected(dev_plan)
    limit = (cost * Decimal("1.5")).quantize(Decimal("0.01"))
    plan = with_limit(dev_plan, str(limit))
    within = Violations()
    stack_rules.expected_cost_within_budget(stack_args(plan), within)
    assert within == [], "the expected cost is two thirds of this budget"
    tight = Violations()
    stack_rules.expected_cost_within_budget(stack_args(plan, {"maxBudgetPercent": 50}), tight)
    assert f"(50% of {limit})" in tight.text(), "half the budget is less than the expected cost"


def test_a_plan_the_cost_model_cannot_price_is_not_applicable(dev_plan: Plan) -> None:
    asg = one(dev_plan, "aws:autoscaling/group:Group")
    overrides = [{"instanceType": "zz9.mega"}]
    unknown = asg.model_copy(
        update={"inputs": changed(asg.inputs, {"mixedInstancesPolicy.launchTemplate.overrides": overrides})}
    )
    plan = dev_plan.model_copy(update={"resources": [unknown if r.urn == asg.urn else r for r in dev_plan.resources]})
    with pytest.raises(_NotApplicableError) as raised:
        stack_rules.expected_cost_within_budget(stack_args(plan), Violations())
    assert "cannot price" in raised.value.reason, "an unpriceable plan is not guessed at"
