"""The whole pack over whole stacks: dev and prod pass; a deliberately bad stack fails, loudly.

The bad stack starts as a real stack config (lowest-price spot on one instance type), runs through
the program offline, and then carries what no valid config can produce, the way a hand-written
program or an older state would: no budget, IMDSv1, a security group opening SSH to the world.
Config validation (infra/config.py) refuses some of these before any resource exists; the tests
at the end show where.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError
from infra.offline import run_offline
from infra.plan import Plan
from policies.evaluate import Report, evaluate, load_pack_config
from tests.fakes import as_engine_config, bad_stack_values, changed, one, stack_values

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
DEV_CONFIG = load_pack_config(POLICY_DIR / "config.dev.json")
PROD_CONFIG = load_pack_config(POLICY_DIR / "config.prod.json")


ENV_CONFIG = {"dev": DEV_CONFIG, "prod": PROD_CONFIG}


def test_each_stack_passes_every_mandatory_rule_of_its_environment(any_plan: Plan) -> None:
    report = evaluate(any_plan, ENV_CONFIG[any_plan.stack])
    assert report.mandatory == [], f"{any_plan.stack} must pass every mandatory rule: {report.mandatory}"
    assert report.advisory == [], f"{any_plan.stack} has no advisory finding either: {report.advisory}"


def test_both_stacks_pass_every_rule_even_when_all_are_mandatory(any_plan: Plan) -> None:
    report = evaluate(any_plan)
    assert report.diagnostics == [], f"{any_plan.stack} has no finding at all: {report.diagnostics}"


@pytest.mark.parametrize("config", [None, DEV_CONFIG, PROD_CONFIG], ids=["defaults", "dev-config", "prod-config"])
def test_the_stacks_pass_every_security_rule_under_any_config(any_plan: Plan, config: dict | None) -> None:
    security = [d for d in evaluate(any_plan, config).diagnostics if d.area == "security"]
    assert security == [], f"{any_plan.stack} must pass every security rule: {security}"


EXPECTED = {
    "spot-allocation-strategy": "auto-scaling group 'pool-small-asg' allocates spot with 'lowest-price'",
    "spot-instance-diversity": "runs spot on 1 instance type(s) (g5.xlarge) in environment 'dev'",
    "budget-with-alerts": "the stack declares no aws.budgets.Budget",
    "imdsv2-required": "'pool-small-lt' has metadataOptions.httpTokens='optional'",
    "no-public-ssh": "'debug-ssh': ingress[0] opens port 22 to 0.0.0.0/0",
}


def findings(report: Report, level: str) -> dict[str, str]:
    return {d.policy: d.detail for d in report.diagnostics if d.enforcement == level}


def test_the_bad_stack_fails_the_prod_pack_with_the_expected_messages(bad_plan: Plan) -> None:
    mandatory = findings(evaluate(bad_plan, PROD_CONFIG), "mandatory")
    assert set(mandatory) == set(EXPECTED) | {"cost-allocation-tags"}, f"exactly these rules fire: {mandatory}"
    for rule, text in EXPECTED.items():
        assert text in mandatory[rule], f"{rule} states the offending value: {mandatory[rule]}"
        assert "; limit: " in mandatory[rule] and "; fix: " in mandatory[rule], f"{rule} states limit and fix"
    assert "'debug-ssh'" in mandatory["cost-allocation-tags"], "the hand-added security group is also untagged"


def test_under_the_dev_pack_cost_findings_advise_and_security_findings_still_block(bad_plan: Plan) -> None:
    report = evaluate(bad_plan, DEV_CONFIG)
    assert set(findings(report, "mandatory")) == {"imdsv2-required", "no-public-ssh"}, "security blocks in dev"
    assert {"spot-allocation-strategy", "spot-instance-diversity", "budget-with-alerts"} <= set(
        findings(report, "advisory")
    ), "cost guardrails only advise in dev"


def test_without_a_budget_the_cost_rule_says_it_has_nothing_to_compare_with(bad_plan: Plan) -> None:
    skipped = {n.policy: n.reason for n in evaluate(bad_plan, PROD_CONFIG).not_applicable}
    assert "no monthly USD budget" in skipped["expected-cost-within-budget"], "no budget, no cost comparison"


def test_a_value_unknown_during_preview_gives_an_advisory_cannot_run(dev_plan: Plan) -> None:
    lt = one(dev_plan, "aws:ec2/launchTemplate:LaunchTemplate", "pool-small-lt")
    unknown = lt.model_copy(update={"inputs": changed(lt.inputs, {"metadataOptions.httpTokens": "<unknown>"})})
    plan = dev_plan.model_copy(update={"resources": [unknown if r.urn == lt.urn else r for r in dev_plan.resources]})
    report = evaluate(plan, PROD_CONFIG)
    [diagnostic] = [d for d in report.diagnostics if d.policy == "imdsv2-required"]
    assert diagnostic.enforcement == "advisory", "the engine downgrades an unknown value to advisory"
    assert "can't run policy 'imdsv2-required'" in diagnostic.message, "as the engine words it"
    assert ".metadataOptions.httpTokens can't be known during preview" in diagnostic.message, "the path is named"


def test_config_validation_already_refuses_a_world_open_kubernetes_api() -> None:
    values = stack_values("dev")
    values["cluster"]["endpoint_public_access_cidrs"] = ["0.0.0.0/0"]
    with pytest.raises(ConfigError, match="opens the Kubernetes API to the whole internet"):
        run_offline("dev", config=as_engine_config(values))


def test_config_validation_already_refuses_a_stack_without_a_budget() -> None:
    values = stack_values("dev")
    del values["budget"]
    with pytest.raises(ConfigError, match="budget: is missing"):
        run_offline("dev", config=as_engine_config(values))


def test_config_validation_only_warns_on_one_instance_type_so_the_pack_must_block_it() -> None:
    plan = run_offline("dev", config=as_engine_config(bad_stack_values()))
    assert any("only 1 instance type(s)" in w for w in plan.warnings), "the program warns but deploys"
    mandatory = findings(evaluate(plan, PROD_CONFIG), "mandatory")
    assert {"spot-allocation-strategy", "spot-instance-diversity"} <= set(mandatory), "the pack blocks it"
