"""What the platform puts on the cluster, checked against Kubernetes itself and scanned with checkov.

- The raw manifests (infra/platform_values.platform_manifests) validate against the strict OpenAPI
  schema of the stacks' Kubernetes version (kubernetes-validate ships schemas up to 1.37).
- The Kubernetes objects inside the Helm values (affinity, tolerations, security contexts,
  resources) validate against their own schema definitions, so a typo such as `runAsNonroot`
  fails here instead of being ignored by a chart.
- checkov scans the manifests, and a pod built from each controller's values (the pod-level fields
  this project sets; the charts' templates cannot be rendered offline). Every finding must be one
  of EXPLAINED (docs/platform.md, "Scan findings"); checkov reports no severities without a
  Prisma Cloud key, so every unexplained finding fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from infra.config import AutoscalerConfig, InterruptionConfig, parse
from infra.platform_values import (
    PLATFORM_NAMESPACE,
    cluster_autoscaler_values,
    device_plugin_values,
    keda_values,
    node_termination_handler_values,
    platform_manifests,
)
from infra.platform_versions import KEDA, NODE_TERMINATION_HANDLER, NVIDIA_DEVICE_PLUGIN
from tests.fakes import stack_values
from tests.paths import REPO

STACKS = ("dev", "prod")
# checkov findings on the controller pods, each with the reason it is accepted (docs/platform.md).
EXPLAINED = {
    "CKV_K8S_8": "liveness probes are the charts' (autoscaler, KEDA and the handler define them)",
    "CKV_K8S_9": "controllers serve no traffic through a Service, so readiness gates nothing",
    "CKV_K8S_11": "no CPU limits on purpose: a throttled autoscaler or drain is late; requests reserve the share",
    "CKV_K8S_15": "IfNotPresent with a pinned chart's immutable version tag; Always adds a registry call per start",
    "CKV_K8S_38": "controllers talk to the Kubernetes API, so they need their service-account token",
    "CKV_K8S_43": "images are pinned by chart version and tag, not digest (digests differ per architecture)",
    "CKV2_K8S_6": "network policies are not enforced by this cluster's VPC CNI configuration (next issues)",
    "CKV_K8S_40": "UIDs below 10000: KEDA and the handler keep their images' non-root UID 1000 (no host "
    "namespace or host path is shared, so it cannot collide with a host user); the device plugin runs as root",
    # Only for the device plugin, which NVIDIA runs as root (kubelet's device-plugin socket directory).
    "CKV_K8S_23": "device plugin only: runs as root to create its socket in the kubelet's directory",
    "CKV_K8S_22": "device plugin only: writes its socket to the kubelet's host directory",
}
ROOT_ONLY = {"CKV_K8S_23", "CKV_K8S_22"}


def kubernetes_version(stack: str) -> str:
    return parse(stack, stack_values(stack)).cluster.kubernetes_version


def validate_fragment(fragment: Any, schema_file: str, version: str) -> None:
    """Validate a piece of a pod spec against one strict schema definition of that Kubernetes version."""
    directory = f"kubernetes-json-schema/v{version}.0-local-strict"
    schema = kv.schema_contents(f"{directory}/{schema_file}", version)
    definitions = kv.schema_contents(f"{directory}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    jsonschema.validators.Draft202012Validator(schema, registry=registry).validate(fragment)


def values_fragments(stack: str) -> list[tuple[str, Any, str]]:
    """(where, fragment, schema file) for every Kubernetes object inside the releases' values."""
    cfg = parse(stack, stack_values(stack))
    plugin = device_plugin_values(cfg.pools)
    autoscaler = cluster_autoscaler_values(
        cluster_name="c", region=cfg.region, kubernetes_version="1.35", role_arn="arn", config=cfg.platform.autoscaler
    )
    keda = keda_values()
    handler = node_termination_handler_values(
        region=cfg.region, queue_url="https://q", role_arn="arn", config=cfg.platform.interruption, replicas=2
    )
    out: list[tuple[str, Any, str]] = [
        ("device-plugin.affinity", plugin["affinity"], "affinity-v1.json"),
        ("device-plugin.securityContext", plugin["securityContext"], "securitycontext-v1.json"),
        ("device-plugin.podSecurityContext", plugin["podSecurityContext"], "podsecuritycontext-v1.json"),
        ("device-plugin.resources", plugin["resources"], "resourcerequirements-v1.json"),
        *[(f"device-plugin.tolerations[{i}]", t, "toleration-v1.json") for i, t in enumerate(plugin["tolerations"])],
        ("autoscaler.securityContext", autoscaler["securityContext"], "podsecuritycontext-v1.json"),
        ("autoscaler.containerSecurityContext", autoscaler["containerSecurityContext"], "securitycontext-v1.json"),
        ("autoscaler.resources", autoscaler["resources"], "resourcerequirements-v1.json"),
        ("handler.podSecurityContext", handler["podSecurityContext"], "podsecuritycontext-v1.json"),
        ("handler.securityContext", handler["securityContext"], "securitycontext-v1.json"),
        ("handler.resources", handler["resources"], "resourcerequirements-v1.json"),
        ("handler.podDisruptionBudget", handler["podDisruptionBudget"], "poddisruptionbudgetspec-policy-v1.json"),
    ]
    for part in ("operator", "metricServer", "webhooks"):
        out += [
            (f"keda.podSecurityContext.{part}", keda["podSecurityContext"][part], "podsecuritycontext-v1.json"),
            (f"keda.securityContext.{part}", keda["securityContext"][part], "securitycontext-v1.json"),
            (f"keda.resources.{part}", keda["resources"][part], "resourcerequirements-v1.json"),
        ]
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_the_raw_manifests_validate_against_the_stacks_kubernetes_schema(stack: str):
    version = kubernetes_version(stack)
    assert kv.major_minor(kv.latest_version()) >= version, f"kubernetes-validate has schemas for {version}"
    manifests = platform_manifests()
    assert {m["kind"] for m in manifests} == {"Namespace", "LimitRange"}, "the objects the platform builds"
    for manifest in manifests:
        validated = kv.validate(manifest, version, strict=True)
        assert validated == version, f"{manifest['metadata']['name']} checked against {version} itself, not older"


def test_a_manifest_with_a_typo_fails_validation_so_the_check_can_fail():
    broken = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {"a": "b"}}}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, "1.35", strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_the_kubernetes_objects_inside_the_helm_values_validate_against_their_schemas(stack: str):
    version = kubernetes_version(stack)
    fragments = values_fragments(stack)
    assert len(fragments) >= 20, "every object the values carry is covered"
    for where, fragment, schema_file in fragments:
        try:
            validate_fragment(fragment, schema_file, version)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{stack}: {where} is not a valid {schema_file}: {exc.message} at {list(exc.path)}")


def test_a_typo_in_a_security_context_fails_fragment_validation():
    with pytest.raises(jsonschema.ValidationError, match="runAsNonroot"):
        validate_fragment({"runAsNonroot": True}, "podsecuritycontext-v1.json", "1.35")


# --- checkov ---------------------------------------------------------------------------------------


def checkov_binary() -> str | None:
    """checkov lives in its own virtualenv (`make checkov`): its pins (boto3, packaging) conflict with ours."""
    candidates = [os.environ.get("FRUGAL_CHECKOV"), shutil.which("checkov"), str(REPO / ".venv-checkov/bin/checkov")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def controller_pods() -> dict[str, dict[str, Any]]:
    """A pod per controller with exactly the pod-level fields this project's values set."""

    def pod(name: str, image: str, spec: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": PLATFORM_NAMESPACE},
            "spec": {**spec, "containers": [{"name": name, "image": image, **container}]},
        }

    autoscaler = cluster_autoscaler_values(
        cluster_name="c", region="us-east-1", kubernetes_version="1.35", role_arn="arn", config=AutoscalerConfig()
    )
    handler = node_termination_handler_values(
        region="us-east-1", queue_url="https://q", role_arn="arn", config=InterruptionConfig(), replicas=2
    )
    keda = keda_values()
    plugin = device_plugin_values(parse("prod", stack_values("prod")).pools)
    return {
        "cluster-autoscaler": pod(
            "cluster-autoscaler",
            f"registry.k8s.io/autoscaling/cluster-autoscaler:{autoscaler['image']['tag']}",
            {"nodeSelector": autoscaler["nodeSelector"], "securityContext": autoscaler["securityContext"]},
            {"resources": autoscaler["resources"], "securityContext": autoscaler["containerSecurityContext"]},
        ),
        "keda-operator": pod(
            "keda-operator",
            f"ghcr.io/kedacore/keda:{KEDA.app_version}",
            {"nodeSelector": keda["nodeSelector"], "securityContext": keda["podSecurityContext"]["operator"]},
            {"resources": keda["resources"]["operator"], "securityContext": keda["securityContext"]["operator"]},
        ),
        "aws-node-termination-handler": pod(
            "aws-node-termination-handler",
            f"public.ecr.aws/aws-ec2/aws-node-termination-handler:v{NODE_TERMINATION_HANDLER.app_version}",
            {"nodeSelector": handler["nodeSelector"], "securityContext": handler["podSecurityContext"]},
            {"resources": handler["resources"], "securityContext": handler["securityContext"]},
        ),
        "nvidia-device-plugin": pod(
            "nvidia-device-plugin",
            f"nvcr.io/nvidia/k8s-device-plugin:v{NVIDIA_DEVICE_PLUGIN.app_version}",
            {
                "affinity": plugin["affinity"],
                "tolerations": plugin["tolerations"],
                "securityContext": plugin["podSecurityContext"],
            },
            {"resources": plugin["resources"], "securityContext": plugin["securityContext"]},
        ),
    }


def run_checkov(binary: str, directory: Path) -> dict[str, dict[str, Any]]:
    """One checkov run over a directory (it takes ~10 s to start); results keyed by file name."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # no Prisma Cloud API: offline
    result = subprocess.run(
        [binary, "-d", str(directory), "--framework", "kubernetes", "--skip-download", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.stdout.strip(), f"checkov printed a report: {result.stderr[-1500:]}"
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0, "checkov parsed every file"
    by_file: dict[str, dict[str, Any]] = {p.name: {"passed": set(), "failed": {}} for p in directory.iterdir()}
    for check in report["results"]["passed_checks"]:
        by_file[Path(check["file_path"]).name]["passed"].add(check["check_id"])
    for check in report["results"]["failed_checks"]:
        by_file[Path(check["file_path"]).name]["failed"][check["check_id"]] = check["check_name"]
    return by_file


CARELESS_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "careless"},
    "spec": {"containers": [{"name": "c", "image": "nginx:latest", "securityContext": {"privileged": True}}]},
}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    binary = checkov_binary()
    if binary is None:
        pytest.skip("checkov not installed: `make checkov` puts it in .venv-checkov (or set FRUGAL_CHECKOV)")
    directory = tmp_path_factory.mktemp("checkov")
    (directory / "manifests.yaml").write_text(yaml.safe_dump_all(platform_manifests()))
    (directory / "careless.yaml").write_text(yaml.safe_dump(CARELESS_POD))
    for name, pod in controller_pods().items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(pod))
    return run_checkov(binary, directory)


def test_checkov_finds_the_usual_problems_in_a_careless_pod_so_a_clean_scan_means_something(scanned):
    failed = set(scanned["careless.yaml"]["failed"])
    assert {"CKV_K8S_16", "CKV_K8S_14", "CKV_K8S_21"} <= failed, f"privileged, latest tag, default namespace: {failed}"


def test_checkov_has_nothing_to_report_on_the_raw_manifests(scanned):
    # checkov has no checks for Namespace and LimitRange objects: nothing fails, and nothing can.
    assert scanned["manifests.yaml"]["failed"] == {}, "no finding on the namespaces and the LimitRange"


@pytest.mark.parametrize(
    "controller", ["cluster-autoscaler", "keda-operator", "aws-node-termination-handler", "nvidia-device-plugin"]
)
def test_every_checkov_finding_on_a_controller_pod_is_explained(scanned, controller: str):
    result = scanned[f"{controller}.yaml"]
    assert len(result["passed"]) > 50, f"checkov evaluated the {controller} pod"
    failed = result["failed"]
    unexplained = {k: v for k, v in failed.items() if k not in EXPLAINED}
    assert unexplained == {}, f"{controller}: findings without a reason in EXPLAINED and docs/platform.md"
    if controller != "nvidia-device-plugin":
        assert not ROOT_ONLY & set(failed), f"{controller} does not run as root: {sorted(ROOT_ONLY & set(failed))}"
        assert {"CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_13", "CKV_K8S_12", "CKV_K8S_10"} <= result[
            "passed"
        ], "no privilege escalation, NET_RAW and all capabilities dropped, memory limit, requests set"
