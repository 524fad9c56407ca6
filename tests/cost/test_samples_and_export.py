"""Real Pulumi CLI output through the readers into the estimator; the program's cost export."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infra.cost.estimate import COST_OUTPUT, estimate_plan
from infra.plan import Plan
from infra.readers import read_preview_json, read_stack_export
from tests.cost.conftest import PRICED_ON
from tests.paths import SHARED_DATA

SAMPLES = SHARED_DATA / "pulumi-cli-samples"
PREVIEWS = ["sample-preview-creates.json", "sample-preview-update.json", "sample-preview-deletes.json"]


@pytest.mark.parametrize("name", PREVIEWS)
def test_every_preview_sample_is_priced_with_its_bucket_unknown_and_lambda_known(name: str):
    report = estimate_plan(read_preview_json(SAMPLES / name), on=PRICED_ON)
    by_type = {r.type: r for r in report.resources}
    assert "aws:s3:BucketEventSubscription" not in by_type, "component parents are not billable resources"
    bucket = by_type["aws:s3/bucket:Bucket"]
    assert bucket.status == "priced" and bucket.monthly.expected, "S3 requests are priced from usage, never a silent 0"
    if name != "sample-preview-deletes.json":
        assert by_type["aws:lambda/function:Function"].monthly.expected > 0, "the Lambda is priced from usage"
    else:
        assert "aws:lambda/function:Function" not in by_type, "a deleted Lambda is not in the plan after"
    assert all(r.status == "free" for t, r in by_type.items() if t.startswith("aws:iam/")), "IAM is free"


def test_the_stack_export_sample_prices_like_the_update_preview_before_it():
    export = estimate_plan(read_stack_export(SAMPLES / "sample-export.json"), on=PRICED_ON)
    before = estimate_plan(read_preview_json(SAMPLES / "sample-preview-update.json", before=True), on=PRICED_ON)
    assert export.total == before.total, "the deployed state and the preview's before side are the same resources"


def test_the_program_exports_the_same_expected_cost_frugal_preview_prints(any_plan: Plan):
    exported = any_plan.outputs.get(COST_OUTPUT)
    report = estimate_plan(any_plan)  # today, as the program's export
    assert exported is not None, "the program exports expected_monthly_cost_usd"
    assert Decimal(exported) == report.total.expected, "the export (from the registrations) equals the preview total"
    assert not any("drifted" in w for w in report.warnings), "no drift warning"


def test_the_export_agrees_with_the_preview_for_a_variant_stack():
    """Existing VPC (no NAT), no schedule, no Slack, no shared cache: the export still equals the total."""
    from infra.offline import run_offline
    from tests.fakes import as_engine_config, stack_values

    values = stack_values("prod")
    values["network"] = {
        "vpc_id": "vpc-0123456789abcdef0",
        "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    }
    values.pop("schedule")
    values["budget"].pop("slack_webhook_secret_name")
    values["cache"] = {"enabled": False}
    values.pop("serving")  # prod's gateway replicas need the shared cache; serving is priced in both stacks
    plan = run_offline("prod", config=as_engine_config(values))
    expected = estimate_plan(plan).total.expected  # today, as the program's export
    assert expected is not None, "the variant is fully priced"
    assert Decimal(plan.outputs[COST_OUTPUT]) == expected, "the export equals the preview total for the variant"
    assert not plan.of_type("aws:ec2/natGateway:NatGateway"), "the variant really has no NAT gateways"
