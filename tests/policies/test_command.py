"""`frugal policy`: exit codes, grouping by enforcement level, JSON, and its two plan sources.

The preview-file cases write the file in the real `pulumi preview --json` step format (the shape
infra/readers.py reads and tests/infra/test_readers.py checks against real CLI samples).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from frugal.cli import main
from frugal.exit_codes import EXIT_POLICY as EXIT_MANDATORY_VIOLATION
from infra.plan import Plan
from tests.fakes import changed, one
from tests.paths import REPO, SHARED_DATA


def write_preview(plan: Plan, path: Path) -> Path:
    steps = [
        {
            "op": "create",
            "urn": r.urn,
            "provider": f"{r.provider}::offline-id" if r.provider else "",
            "newState": {
                "urn": r.urn,
                "type": r.type,
                "custom": r.custom,
                "parent": r.parent or "",
                "inputs": r.inputs,
                "dependencies": r.dependencies,
                "propertyDependencies": r.property_dependencies,
            },
        }
        for r in plan.resources
    ]
    path.write_text(json.dumps({"steps": steps, "changeSummary": {"create": len(steps)}}))
    return path


def test_the_dev_stack_passes_with_its_environment_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "--stack", "dev"]) == 0, "dev passes every mandatory rule"
    out = capsys.readouterr().out
    assert "config.dev.json" in out, "the pack config is chosen by the stack's environment tag"
    assert "PASS: 0 mandatory" in out, "the summary line counts the blocking findings first"


def test_json_output_carries_the_summary_and_every_finding(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "--stack", "prod", "--json"]) == 0, "prod passes"
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "frugal.policy-report/v1", "the JSON names its schema"
    # The model bucket makes the S3 rule apply (and pass); only the non-prod rule is skipped.
    assert report["summary"] == {"mandatory": 0, "advisory": 0, "not_applicable": 1}, "prod skips off-hours"
    assert {n["policy"] for n in report["not_applicable"]} == {"non-prod-off-hours"}, "and says which"
    assert report["config_path"].endswith("config.prod.json"), "prod gets the prod pack config"


def test_a_bad_preview_file_exits_4_and_groups_findings_by_level(
    tmp_path: Path, dev_plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    asg = one(dev_plan, "aws:autoscaling/group:Group")
    lt = one(dev_plan, "aws:ec2/launchTemplate:LaunchTemplate", "pool-small-lt")
    edits = {
        asg.urn: {"mixedInstancesPolicy.instancesDistribution.spotAllocationStrategy": "lowest-price"},
        lt.urn: {"metadataOptions.httpTokens": "optional"},
    }
    resources = [r.model_copy(update={"inputs": changed(r.inputs, edits.get(r.urn, {}))}) for r in dev_plan.resources]
    preview = write_preview(dev_plan.model_copy(update={"resources": resources}), tmp_path / "preview.json")

    assert main(["policy", "--preview-json", str(preview)]) == EXIT_MANDATORY_VIOLATION, "IMDSv1 blocks (exit 4)"
    out = capsys.readouterr().out
    mandatory, advisory = out.split("MANDATORY (1)")[1].split("ADVISORY (")
    assert "imdsv2-required" in mandatory and "httpTokens='optional'" in mandatory, "security blocks in dev"
    assert "spot-allocation-strategy" in advisory and "'lowest-price'" in advisory, "cost advises in dev"
    assert "FAIL: 1 mandatory" in out, "the summary counts the blocking findings"


@pytest.mark.parametrize(
    ("option", "sample"), [("--preview-json", "sample-preview-creates.json"), ("--stack-export", "sample-export.json")]
)
def test_real_cli_output_of_a_foreign_program_is_judged_too(
    option: str, sample: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = SHARED_DATA / "pulumi-cli-samples" / sample
    assert main(["policy", option, str(path), "--json"]) == EXIT_MANDATORY_VIOLATION, (
        "an untagged bucket without a public access block, in a stack without a budget, must block"
    )
    policies = {d["policy"] for d in json.loads(capsys.readouterr().out)["diagnostics"]}
    assert policies == {"cost-allocation-tags", "budget-with-alerts", "s3-public-access-blocked"}, policies


def test_usage_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_config = tmp_path / "pack.json"
    bad_config.write_text(json.dumps({"no-such-rule": "mandatory", "on-demand-share": "sometimes"}))
    assert main(["policy", "--stack", "dev", "--config", str(bad_config)]) == 2, "a bad pack config is refused"
    err = capsys.readouterr().err
    assert "'no-such-rule' is not a policy" in err and "'sometimes' is not one of" in err, "both problems named"

    not_preview = tmp_path / "state.json"
    not_preview.write_text(json.dumps({"deployment": {}}))
    assert main(["policy", "--preview-json", str(not_preview)]) == 2, "a file that is not preview JSON is refused"
    assert "no 'steps' list" in capsys.readouterr().err, "the reader says what is wrong"


def test_a_stack_whose_config_is_invalid_stops_before_any_rule_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (REPO / "Pulumi.dev.yaml").read_text().replace('["203.0.113.0/24"]', '["0.0.0.0/0"]')
    (tmp_path / "Pulumi.open.yaml").write_text(text)
    assert main(["policy", "--stack", "open", "--root", str(tmp_path)]) == 2, "invalid config exits 2"
    assert "opens the Kubernetes API to the whole internet" in capsys.readouterr().err, "config validation speaks"
