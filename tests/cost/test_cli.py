"""`frugal preview` / `frugal diff` end to end: inputs, formats, budget gate exit codes, usage files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frugal.cli import main
from frugal.exit_codes import EXIT_OVER_BUDGET, EXIT_USAGE
from infra.plan import Plan
from tests.paths import SHARED_DATA

SAMPLES = SHARED_DATA / "pulumi-cli-samples"
ON = ["--on", "2026-11-24"]


@pytest.fixture
def dev_plan_file(dev_plan: Plan, tmp_path: Path) -> Path:
    path = tmp_path / "dev.plan.json"
    path.write_text(json.dumps(dev_plan.to_json_dict()))
    return path


def test_fail_above_exits_3_and_names_both_amounts(dev_plan_file: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["preview", "--plan-json", str(dev_plan_file), "--format", "json", "--fail-above", "100", *ON])
    err = capsys.readouterr().err
    assert code == EXIT_OVER_BUDGET == 3, "over the limit is its own exit code"
    assert "$227.46" in err and "$100.00" in err, f"the message names the cost and the limit: {err}"


def test_fail_above_budget_reads_the_budget_from_the_plan(dev_plan_file: Path, capsys: pytest.CaptureFixture[str]):
    within = main(["preview", "--plan-json", str(dev_plan_file), "--format", "json", "--fail-above-budget", *ON])
    assert within == 0, "dev's expected $227.46 fits its $400 budget"
    capsys.readouterr()
    tight = json.loads(dev_plan_file.read_text())
    for resource in tight["resources"]:
        if resource["type"] == "aws:budgets/budget:Budget":
            resource["inputs"]["limitAmount"] = "150"
    tight_file = dev_plan_file.with_name("tight.plan.json")
    tight_file.write_text(json.dumps(tight))
    over = main(["preview", "--plan-json", str(tight_file), "--format", "json", "--fail-above-budget", *ON])
    assert over == EXIT_OVER_BUDGET, "the same stack with a $150 budget is over it"
    err = capsys.readouterr().err
    assert "$150.00" in err and "$227.46" in err, f"the budget from aws:budgets/budget:Budget is named: {err}"


def test_fail_above_budget_without_a_budget_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    code = main(
        [
            "preview",
            "--preview-json",
            str(SAMPLES / "sample-preview-creates.json"),
            "--format",
            "json",
            "--fail-above-budget",
        ]
    )
    assert code == EXIT_USAGE, "no budget in the plan: nothing to compare with"
    assert "no monthly USD aws:budgets/budget:Budget" in capsys.readouterr().err, "the error says why and the fix"


def test_a_usage_file_overrides_nat_data_for_one_gateway(
    dev_plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    usage = tmp_path / "usage.yml"
    usage.write_text("version: 1\nresources:\n  net-nat-0: {nat_gateway_gb_per_month: 1000}\n")
    assert main(["preview", "--plan-json", str(dev_plan_file), "--format", "json", "--usage", str(usage), *ON]) == 0
    data = json.loads(capsys.readouterr().out)
    nat = next(r for r in data["resources"] if r["type"] == "aws:ec2/natGateway:NatGateway")
    gb = next(c for c in nat["components"] if c["name"] == "data processed")
    assert gb["monthly_cost"]["expected"] == "45.00", "1,000 GB x $0.045"


def test_a_usage_file_with_an_unknown_key_is_a_usage_error(
    dev_plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    usage = tmp_path / "usage.yml"
    usage.write_text("defaults: {nat_gb: 5}\n")
    assert main(["preview", "--plan-json", str(dev_plan_file), "--usage", str(usage)]) == EXIT_USAGE, "exit 2"
    assert "unknown usage key 'nat_gb'" in capsys.readouterr().err, "the bad key is named with the valid ones"


def test_a_file_that_is_not_a_preview_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    assert main(["preview", "--preview-json", str(bogus)]) == EXIT_USAGE, "exit 2 for a wrong file"
    assert "pulumi preview --json" in capsys.readouterr().err, "the fix names the command to run"


def test_diff_between_a_preview_and_a_stack_export_uses_the_legend_and_amount_line(capsys: pytest.CaptureFixture[str]):
    code = main(["diff", str(SAMPLES / "sample-export.json"), str(SAMPLES / "sample-preview-creates.json"), *ON])
    out = capsys.readouterr().out
    assert code == 0, "a diff is not a gate"
    assert "Legend: + added, ~ changed, - removed" in out, "Infracost's legend"
    assert out.strip().splitlines()[-1].startswith("Amount: "), "closes with the amount line"


def test_diff_dev_to_prod_adds_two_nat_gateways_and_the_large_pool(
    dev_plan_file: Path, prod_plan: Plan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    prod_file = tmp_path / "prod.plan.json"
    prod_file.write_text(json.dumps(prod_plan.to_json_dict()))
    assert main(["diff", str(dev_plan_file), str(prod_file), "--format", "json", *ON]) == 0, "diff runs"
    data = json.loads(capsys.readouterr().out)
    added = {(c["name"], c["type"].split(":")[-1]) for c in data["changes"] if c["op"] == "+"}
    assert {("net-nat-1", "NatGateway"), ("net-nat-2", "NatGateway"), ("pool-large-asg", "Group")} <= added, added
    assert data["diff_total_monthly_cost"]["expected"] == "2043.93", (
        "2271.39 - 227.46: both add system nodes; prod also adds the queued Slack alert path and an NLB"
    )


def test_tutorial_mode_prints_the_corrected_numbers(capsys: pytest.CaptureFixture[str]):
    assert main(["preview", "--tutorial"]) == 0, "tutorial mode runs without a stack"
    out = capsys.readouterr().out
    assert "$3,577.00/month = 49.0%" in out and "37.9%" in out and "30.4%" in out, "Part 4 kept, Part 5 corrected"
