"""The policy rules for serving objects, over the stacks' own manifests (pass) and broken copies (fail)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies import serving_rules
from tests.fakes import Violations, planned, resource_args
from tests.serving.manifests import find, manifests_for, stack

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _deployment(name: str = "small-model") -> dict[str, Any]:
    return copy.deepcopy(find(manifests_for(stack("dev")), "Deployment", name))


def _check(rule: Any, obj: dict[str, Any], type_: str = DEPLOYMENT, config: dict[str, Any] | None = None) -> Violations:
    found = Violations()
    rule(resource_args(planned(type_, obj.get("metadata", {}).get("name", "x"), obj), config=config), found)
    return found


RULES = [
    serving_rules.gpu_pods_request_exactly_and_tolerate,
    serving_rules.workload_probes,
    serving_rules.images_pinned,
    serving_rules.models_pinned_by_sha256,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("name", ["small-model", "gateway"])
def test_the_stacks_own_workloads_pass(rule, name):
    assert _check(rule, _deployment(name)) == [], f"{name} passes {rule.__name__}"


def test_a_gpu_request_below_its_limit_is_a_violation():
    d = _deployment()
    d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] = "0"
    found = _check(serving_rules.gpu_pods_request_exactly_and_tolerate, d)
    assert found and "requests '0' and limits '1'" in found.text(), found.text()


def test_a_gpu_pod_without_the_toleration_is_a_violation():
    d = _deployment()
    d["spec"]["template"]["spec"]["tolerations"] = []
    found = _check(serving_rules.gpu_pods_request_exactly_and_tolerate, d)
    assert "does not tolerate the nvidia.com/gpu taint" in found.text(), found.text()


def test_a_gpu_server_without_a_startup_probe_is_a_violation():
    d = _deployment()
    del d["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    found = _check(serving_rules.workload_probes, d)
    assert "has no startupProbe" in found.text() and "fix:" in found.text(), found.text()


def test_a_tag_is_refused_unless_its_repository_is_immutable():
    d = _deployment("gateway")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/frugal:v1"
    assert _check(serving_rules.images_pinned, d), "a tag in a mutable repository can move"
    ok = _check(serving_rules.images_pinned, d, config={"immutableRepositories": ["registry.example/frugal"]})
    assert ok == [], "a tag in an immutable repository pins the image"
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/frugal:latest"
    assert _check(serving_rules.images_pinned, d, config={"immutableRepositories": ["registry.example/frugal"]}), (
        "latest never pins"
    )


def test_a_model_fetch_without_a_digest_is_a_violation():
    d = _deployment()
    args = d["spec"]["template"]["spec"]["initContainers"][0]["args"]
    args[args.index("--sha256") + 1] = "latest"
    assert "pins sha256 'latest'" in _check(serving_rules.models_pinned_by_sha256, d).text()


def test_an_uploaded_model_must_be_stored_under_its_digest_with_a_checksum():
    sha = "a" * 64
    good = {"key": f"models/{sha}.gguf", "metadata": {"sha256": sha}, "checksumAlgorithm": "SHA256"}
    rule = serving_rules.models_pinned_by_sha256
    assert _check(rule, good, serving_rules.BUCKET_OBJECT) == [], "pinned upload passes"
    bad = {**good, "key": "models/latest.gguf", "checksumAlgorithm": None}
    assert len(_check(rule, bad, serving_rules.BUCKET_OBJECT)) == 2, "a moving key and no checksum: two findings"
