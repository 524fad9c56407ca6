"""`infra.cost.expected_monthly_cost`: the one number the policy pack's budget rule reads."""

from __future__ import annotations

from datetime import date

from infra.cost import expected_monthly_cost
from infra.cost.estimate import estimate_plan
from infra.plan import Plan, PlannedResource

ON = date(2026, 11, 24)


def test_it_is_the_reports_expected_total_for_a_fully_priced_stack(dev_plan: Plan):
    assert expected_monthly_cost(dev_plan, on=ON) == estimate_plan(dev_plan, on=ON).total.expected, (
        "the shortcut and the full report agree"
    )


def test_it_is_none_when_a_resource_cannot_be_priced():
    unknown = PlannedResource(
        urn="urn:pulumi:s::p::aws:sagemaker/endpoint:Endpoint::e",
        type="aws:sagemaker/endpoint:Endpoint",
        name="e",
        custom=True,
        inputs={},
    )
    plan = Plan(project="p", stack="s", source="pulumi-preview", resources=[unknown])
    assert expected_monthly_cost(plan, on=ON) is None, "an unknown price is unknown, never a total without it"
