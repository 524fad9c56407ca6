"""The pack's rule list: names, policies, config files and docs agree with each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policies.cost_rules import MAX_SIZE_CONFIG
from policies.evaluate import PackConfigError, load_pack_config, resolve
from policies.props import threshold
from policies.registry import RULES, RULES_BY_NAME, policies

REPO = Path(__file__).resolve().parents[2]


def test_every_rule_becomes_a_policy_of_its_kind_with_a_unique_name() -> None:
    built = policies()
    assert len(RULES_BY_NAME) == len(RULES) == len(built) == 30, "30 uniquely named rules, one policy each"
    for rule, policy in zip(RULES, built, strict=True):
        kind = ResourceValidationPolicy if rule.kind == "resource" else StackValidationPolicy
        assert isinstance(policy, kind), f"{rule.name} is a {rule.kind} policy"
        assert policy.enforcement_level == EnforcementLevel.MANDATORY, f"{rule.name} blocks unless configured"


def test_the_environment_configs_name_only_real_rules_and_resolve_as_documented() -> None:
    dev = load_pack_config(REPO / "policies" / "config.dev.json")
    prod = load_pack_config(REPO / "policies" / "config.prod.json")
    for policy in policies():
        area = RULES_BY_NAME[policy.name].area
        dev_level, _ = resolve(policy, dev)
        prod_level, _ = resolve(policy, prod)
        expected_dev = EnforcementLevel.ADVISORY if area == "cost" else EnforcementLevel.MANDATORY
        assert dev_level == expected_dev, f"dev: {policy.name} ({area}) is {expected_dev.value}"
        assert prod_level == EnforcementLevel.MANDATORY, f"prod: {policy.name} blocks"


def test_config_properties_override_the_schema_defaults() -> None:
    policy = next(p for p in policies() if p.name == "asg-max-size")
    _, config = resolve(policy, {"asg-max-size": {"maxSizeCap": 3}})
    assert config == {"maxSizeCap": 3}, "a file value replaces the default; environment has no default"
    _, defaults = resolve(policy, {})
    assert defaults == {"maxSizeCap": {"prod": 20, "staging": 8, "default": 4}}, "defaults come from the schema"


def test_the_docs_describe_every_rule() -> None:
    text = (REPO / "docs" / "policy-pack.md").read_text()
    missing = [r.name for r in RULES if f"| {r.name} |" not in text]
    assert missing == [], f"docs/policy-pack.md has a table row for every rule; missing {missing}"


def test_the_pack_project_file_runs_python_in_the_repositorys_virtualenv() -> None:
    import yaml

    project = yaml.safe_load((REPO / "policies" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python", "a Python pack"
    venv = (REPO / "policies" / project["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (REPO / ".venv").resolve(), "the venv `make setup` creates, relative to the pack"
    assert json.loads((REPO / "policies" / "config.prod.json").read_text())["all"] == "mandatory", "prod blocks"


def test_a_pack_config_of_the_wrong_shape_is_refused_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "pack.json"
    bad.write_text(
        json.dumps(
            {
                "asg-max-size": {"maxSizeCap": {"prod": "ten"}},
                "gpu-instance-families": {"allowedFamilies": "g5"},
                "on-demand-share": {"maxOnDemandPercentAboveBase": -1},
            }
        )
    )
    with pytest.raises(PackConfigError) as raised:
        load_pack_config(bad)
    text = str(raised.value)
    assert "asg-max-size.maxSizeCap: {'prod': 'ten'} matches none of" in text, "a non-numeric cap is refused"
    assert "allowedFamilies: 'g5' is not of type array" in text, "a string is not a list of families"
    assert "maxOnDemandPercentAboveBase: -1 matches none of" in text, "a negative percentage is refused"


def test_a_threshold_that_is_not_a_number_fails_loudly_inside_the_engine_too() -> None:
    assert threshold({}, MAX_SIZE_CONFIG, "maxSizeCap", "qa") == 4, "an unlisted environment gets the default"
    assert threshold({"maxSizeCap": {"prod": 9}}, MAX_SIZE_CONFIG, "maxSizeCap", "dev") == 4, "schema fills gaps"
    with pytest.raises(ValueError, match="not a number"):
        threshold({"maxSizeCap": "ten"}, MAX_SIZE_CONFIG, "maxSizeCap", "dev")
