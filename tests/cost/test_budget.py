"""One budget rule (infra.cost.budget): the smallest monthly USD budget counts, for the preview's
gate, the report and the policy rule alike."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from frugal.cli import main
from frugal.exit_codes import EXIT_OK, EXIT_OVER_BUDGET
from infra.cost.budget import budget_check, monthly_budgets, stack_budget
from infra.cost.estimate import estimate_plan
from infra.plan import UNKNOWN, Plan
from infra.tokens import BUDGETS_BUDGET
from policies import stack_rules
from tests.fakes import Violations, changed, one, stack_args


def _with_extra_budget(plan: Plan, name: str, **inputs: str) -> Plan:
    """The plan with a second budget next to the stack's own (a copy of it with other inputs)."""
    budget = one(plan, BUDGETS_BUDGET, "budget-monthly")
    extra = budget.model_copy(
        update={"urn": budget.urn.replace("::budget-monthly", f"::{name}"), "name": name,
                "inputs": changed(budget.inputs, inputs)}
    )  # fmt: skip
    return plan.model_copy(update={"resources": [*plan.resources, extra]})


def test_the_smallest_monthly_usd_budget_counts_and_others_are_skipped(dev_plan: Plan) -> None:
    own = stack_budget(dev_plan)
    assert own is not None and own.name == "budget-monthly", "dev has one monthly USD budget"
    plan = _with_extra_budget(dev_plan, "tight", limitAmount="5")
    plan = _with_extra_budget(plan, "quarterly", limitAmount="1", timeUnit="QUARTERLY")
    plan = _with_extra_budget(plan, "euros", limitAmount="1", limitUnit="EUR")
    plan = _with_extra_budget(plan, "later", limitAmount=UNKNOWN)
    assert [b.name for b in monthly_budgets(plan)] == ["budget-monthly", "tight"], (
        "other periods, other units and limits not known yet are not monthly USD budgets"
    )
    counted = stack_budget(plan)
    assert counted is not None and (counted.name, counted.limit_usd) == ("tight", Decimal(5)), "the smallest counts"
    report = estimate_plan(plan)
    assert report.budget_monthly_usd == Decimal(5), "the report carries the budget that counts"
    assert any("the gate uses the smallest, tight" in w for w in report.warnings), report.warnings


def test_the_comparison_is_strict_and_an_unknown_cost_is_neither_within_nor_over() -> None:
    assert budget_check(Decimal("100.00"), Decimal(100)) == "within", "equal to the limit is within"
    assert budget_check(Decimal("100.01"), Decimal(100)) == "over", "a cent above is over"
    assert budget_check(None, Decimal(100)) == "unknown", "an unknown cost is never reported as within"


def test_the_preview_gate_and_the_policy_rule_judge_against_the_same_budget(
    dev_plan: Plan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cost = estimate_plan(dev_plan).total.expected
    assert cost is not None and cost > 10, "dev is priced"
    # The stack's own budget stays far above the cost; a second, smaller one is below it.
    plan = _with_extra_budget(dev_plan, "tight", limitAmount="10")
    assert main(["preview", "--plan-json", str(_saved(dev_plan, tmp_path)), "--fail-above-budget"]) == EXIT_OK, (
        "within the stack's own budget"
    )
    capsys.readouterr()
    path = _saved(plan, tmp_path)
    assert main(["preview", "--plan-json", str(path), "--fail-above-budget"]) == EXIT_OVER_BUDGET, (
        "the gate compares with the smallest budget"
    )
    assert "above the stack's budget $10.00" in capsys.readouterr().err, "the gate names the smaller limit"
    found = Violations()
    stack_rules.expected_cost_within_budget(stack_args(plan), found)
    assert len(found) == 1 and "above budget 'tight' of $10.00" in found[0][0], (
        f"the policy rule judges against the same budget: {found}"
    )


def _saved(plan: Plan, tmp_path: Path) -> Path:
    path = tmp_path / f"plan-{len(plan.resources)}.json"
    path.write_text(json.dumps(plan.to_json_dict()))
    return path
