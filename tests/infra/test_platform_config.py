"""The `platform` config key: defaults that need no stack changes, and errors that name the key, the
bad value, the rule and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from infra import platform_versions
from infra.config import ConfigError, parse
from tests.fakes import stack_values


def errors(stack: str, values: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(stack, values)
    return "\n".join(caught.value.problems)


def with_platform(stack: str, platform: dict[str, Any]) -> dict[str, Any]:
    values = stack_values(stack)
    values["platform"] = platform
    return values


def test_a_stack_without_the_platform_key_gets_two_on_demand_system_nodes_and_notice_sized_graces():
    values = stack_values("prod")
    values.pop("platform")
    platform = parse("prod", values).platform
    nodes = platform.system_nodes
    assert (nodes.capacity, nodes.min_size, nodes.desired_size) == ("on-demand", 2, 2), "safe defaults for any env"
    assert platform.interruption.pod_grace_seconds < platform.interruption.node_grace_seconds <= 120, (
        "the default graces fit the 2-minute spot notice"
    )
    assert platform.addon_versions_for("1.35") == platform_versions.ADDON_VERSIONS["1.35"], "pinned builds by default"


@pytest.mark.parametrize(
    ("instance_type", "rule"),
    [
        ("g5.xlarge", "system nodes are general-purpose"),
        ("m7g.large", "rule: x86_64"),
        ("t3.micro", "at least 2 vCPU and 4096 MiB"),
        ("m6i.lage", "is not an EC2 instance type"),
    ],
)
def test_a_system_node_type_that_cannot_serve_is_named_with_its_rule_and_fix(instance_type: str, rule: str):
    text = errors("dev", with_platform("dev", {"system_nodes": {"instance_types": [instance_type, "t3.large"]}}))
    assert "frugal-llm:platform.system_nodes.instance_types" in text, f"the key is named: {text}"
    assert instance_type in text and rule in text and "fix:" in text, f"value, rule and fix: {text}"


def test_prod_refuses_spot_system_nodes_and_dev_accepts_them():
    spot = {"system_nodes": {"capacity": "spot", "instance_types": ["m6i.large", "m5.large"]}}
    text = errors("prod", with_platform("prod", spot))
    assert "frugal-llm:platform.system_nodes.capacity: got 'spot'" in text, f"key and value: {text}"
    assert "prod system nodes are on-demand" in text and "fix: set capacity: on-demand" in text, text
    assert parse("dev", with_platform("dev", spot)).platform.system_nodes.capacity == "spot", "dev may save the 60%"


def test_spot_system_nodes_need_a_second_type_to_fall_back_to():
    text = errors("dev", with_platform("dev", {"system_nodes": {"capacity": "spot", "instance_types": ["t3.large"]}}))
    assert "at least 2 types" in text and "fix: add" in text, text


def test_system_node_sizes_must_be_ordered():
    text = errors("dev", with_platform("dev", {"system_nodes": {"min_size": 2, "desired_size": 1, "max_size": 3}}))
    assert "min_size=2, desired_size=1" in text and "rule: min_size <= desired_size <= max_size" in text, text


@pytest.mark.parametrize(
    ("interruption", "expected"),
    [
        ({"node_grace_seconds": 150}, "node_grace_seconds=150; rule: a spot reclaim gives 120 s notice"),
        ({"node_grace_seconds": 100, "pod_grace_seconds": 100}, "pod_grace_seconds=100 >= node_grace_seconds=100"),
    ],
)
def test_graces_that_do_not_fit_the_two_minute_notice_are_refused(interruption: dict[str, int], expected: str):
    text = errors("dev", with_platform("dev", {"interruption": interruption}))
    assert "frugal-llm:platform.interruption" in text and expected in text and "fix:" in text, text


def test_an_add_on_build_must_look_like_one_and_kube_proxy_must_match_the_cluster():
    text = errors("dev", with_platform("dev", {"addon_versions": {"coredns": "latest"}}))
    assert "frugal-llm:platform.addon_versions" in text and "'latest' is not an EKS add-on build" in text, text
    assert "describe-addon-versions --addon-name coredns" in text, f"the fix says where builds are listed: {text}"
    text = errors("dev", with_platform("dev", {"addon_versions": {"kube-proxy": "v1.34.0-eksbuild.5"}}))
    assert "kube-proxy: got 'v1.34.0-eksbuild.5' on a 1.35 cluster" in text and "v1.35.x-eksbuild.N" in text, text


def test_a_cluster_version_without_pinned_builds_asks_for_them(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delitem(platform_versions.ADDON_VERSIONS, "1.35")
    text = errors("dev", stack_values("dev"))
    assert "no pinned build of vpc-cni, kube-proxy, coredns for Kubernetes 1.35" in text, text
    assert "--kubernetes-version 1.35" in text, f"the fix names the command: {text}"
    builds = {"vpc-cni": "v1.21.0-eksbuild.1", "kube-proxy": "v1.35.0-eksbuild.2", "coredns": "v1.12.4-eksbuild.1"}
    assert parse("dev", with_platform("dev", {"addon_versions": builds})).platform.addon_versions == builds, (
        "a stack can pin them itself"
    )


def test_a_misspelt_platform_key_is_reported_not_ignored():
    text = errors("dev", with_platform("dev", {"system_node": {"min_size": 1}}))
    assert "frugal-llm:platform.system_node: unknown key" in text and "check the spelling" in text, text
