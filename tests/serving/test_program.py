"""The program over both stacks under the recording fake engine: the serving objects with the
fields that matter (bucket, endpoint, repository, identity, Kubernetes objects, gateway config and
its prices), and a variant with a local model uploaded by digest and tenant keys from a secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from infra.config import parse
from infra.offline import run_offline
from infra.plan import Plan, PlannedResource
from infra.serving_gateway import replica_price
from tests.fakes import as_engine_config, stack_values

K8S_PROVIDER = "pulumi:providers:kubernetes"


def one(plan: Plan, type_: str, name: str | None = None) -> PlannedResource:
    found = [r for r in plan.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"exactly one {type_} {name or ''} in {plan.stack}: {[r.name for r in found]}"
    return found[0]


def k8s(plan: Plan, kind: str, name: str) -> PlannedResource:
    found = [
        r for r in plan.resources if r.type.endswith(f":{kind}") and r.inputs.get("metadata", {}).get("name") == name
    ]
    assert len(found) == 1, f"exactly one {kind} {name} in {plan.stack}"
    return found[0]


def test_the_model_bucket_is_encrypted_versioned_private_and_tls_only(any_plan: Plan):
    bucket = one(any_plan, "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucketPrefix"] == f"frugal-llm-{any_plan.stack}-models-", "named after the stack"
    sse = one(any_plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256", "encrypted"
    versioning = one(any_plan, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled", "versioned"
    block = one(any_plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block.inputs[f] is True for f in flags), "every public access is blocked"
    policy = json.loads(one(any_plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, "TLS only"
    assert any(r.endswith("/*") for r in deny["Resource"]), "on the bucket and its objects"


def test_model_pulls_go_through_a_free_s3_gateway_endpoint_on_the_private_route_tables(any_plan: Plan):
    endpoint = one(any_plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway", "a gateway endpoint (free), not an interface one"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3", "for S3 in the stack's region"
    cfg = parse(any_plan.stack, stack_values(any_plan.stack))
    assert len(endpoint.inputs["routeTableIds"]) == cfg.network.az_count, "on every private route table"


def test_the_image_repository_scans_keeps_tags_immutable_and_expires_old_images(any_plan: Plan):
    repo = one(any_plan, "aws:ecr/repository:Repository")
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE", "a tag always names the same image"
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}, "scanned on push"
    rules = json.loads(one(any_plan, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])["rules"]
    assert {r["selection"]["tagStatus"] for r in rules} == {"untagged", "any"}, "untagged expire; the last N stay"


def test_the_model_servers_role_reads_only_the_pinned_models_from_one_service_account(any_plan: Plan):
    role = one(any_plan, "aws:iam/role:Role", "model-reader-identity-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    (equals,) = trust["Condition"].values()
    subjects = [v for k, v in equals.items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:frugal-models:model-server"], "one service account may assume it"
    policy = json.loads(one(any_plan, "aws:iam/rolePolicy:RolePolicy", "model-reader-identity-policy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["s3:GetObject"], "read objects, nothing else (no list, no write)"
    cfg = parse(any_plan.stack, stack_values(any_plan.stack))
    assert cfg.serving is not None
    for tier in cfg.serving.tiers:
        bucket, key = tier.model.s3_bucket_and_key
        assert f"arn:aws:s3:::{bucket}/{key}" in statement["Resource"], f"{tier.name}'s pinned object, by exact ARN"


def test_every_kubernetes_object_goes_through_the_kubernetes_provider(any_plan: Plan):
    # The platform's own objects (its controllers) are checked in tests/infra/test_platform.py.
    objects = [r for r in any_plan.resources if r.type.startswith("kubernetes:") and "PlatformControllers" not in r.urn]
    providers = {r.urn for r in any_plan.resources if r.type == K8S_PROVIDER}
    assert len(objects) >= 14 and len(providers) == 1, (
        "the serving objects and the stack's one provider are in the plan"
    )
    assert all(r.provider in providers for r in objects), "each object is applied with the stack's provider"
    assert all(r.parent and "frugal:serving:Serving" in r.parent for r in objects), "under the Serving component"


def test_pods_run_the_image_pinned_by_digest_from_the_stacks_repository(any_plan: Plan):
    cfg = parse(any_plan.stack, stack_values(any_plan.stack))
    assert cfg.serving is not None and cfg.serving.image.digest
    repo = one(any_plan, "aws:ecr/repository:Repository").inputs["name"]
    deployments = [r for r in any_plan.resources if r.type == "kubernetes:apps/v1:Deployment"]
    for d in deployments:
        pod = d.inputs["spec"]["template"]["spec"]
        for c in [*pod.get("initContainers", []), *pod["containers"]]:
            assert c["image"] == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}@{cfg.serving.image.digest}", (
                f"{c['name']} runs the digest-pinned image"
            )


def test_the_gateway_config_in_the_plan_carries_the_cost_models_prices(any_plan: Plan):
    cfg = parse(any_plan.stack, stack_values(any_plan.stack))
    assert cfg.serving is not None
    router = yaml.safe_load(k8s(any_plan, "ConfigMap", "gateway-config").inputs["data"]["router.yaml"])
    for tier in cfg.serving.tiers:
        rendered = next(t for t in router["tiers"] if t["name"] == tier.name)
        assert rendered["price"]["derived"]["instance_hourly_usd"] == str(replica_price(cfg, tier).hourly_usd), (
            f"{tier.name} is priced per replica-hour by the preview's pool pricer"
        )
        assert rendered["url"].startswith(f"http://{tier.name}-model.frugal-models.svc.cluster.local"), "headless DNS"
    if cfg.cache.enabled:
        assert router["budget"]["redis_url"].startswith("rediss://master."), "budgets on the stack's ElastiCache (TLS)"
    else:
        assert router["budget"]["backend"] == "sqlite", "a single replica keeps budgets in SQLite"
    gateway = k8s(any_plan, "Deployment", "gateway")
    annotations = gateway.inputs["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["frugal.dev/config-sha256"]) == 64, "the pods roll when the resolved config changes"


def test_gpu_nodes_mount_their_instance_store_for_the_model_cache(any_plan: Plan):
    for lt in any_plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        if "GPU nodes" not in str(lt.inputs.get("description")):
            continue
        data = base64.b64decode(lt.inputs["userData"]).decode()
        assert "MODEL_CACHE=/mnt/frugal-models" in data and "mdadm --create" in data, "NVMe cache, RAID0 if several"


@pytest.fixture(scope="module")
def local_model_plan(small_gguf: Path) -> Plan:
    values = stack_values("dev")
    values["serving"]["tiers"][0]["model"] = {"name": "gemma-3-270m-q4_k_m", "local_path": str(small_gguf)}
    config = as_engine_config(values)
    config["frugal-llm:serving_api_keys"] = json.dumps({"dev-team": "sk-dev-team-0123456789abcdef"})
    return run_offline("dev", config=config, secrets=["frugal-llm:serving_api_keys"])


def test_a_local_model_is_uploaded_under_its_digest_and_fetched_from_there(local_model_plan: Plan, small_gguf: Path):
    digest = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    obj = one(local_model_plan, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert obj.inputs["key"] == f"models/{digest}.gguf", "keyed by the digest computed at plan time"
    assert obj.inputs["checksumAlgorithm"] == "SHA256", "S3 checks the upload's SHA-256 too"
    assert obj.inputs["source"] == {"asset": str(small_gguf)}, "the local file is the upload's source"
    pod = k8s(local_model_plan, "Deployment", "small-model").inputs["spec"]["template"]["spec"]
    args = pod["initContainers"][0]["args"]
    assert args[args.index("--uri") + 1] == f"s3://frugal-llm-dev-models-offline/models/{digest}.gguf", (
        "the init step fetches the uploaded object"
    )
    policy = next(r for r in local_model_plan.of_type("aws:iam/rolePolicy:RolePolicy") if "model-reader" in r.name)
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Resource"] == [
        "arn:aws:s3:::frugal-llm-dev-models-offline/models/*"
    ], "the role reads the stack's own models"


def test_tenant_keys_reach_a_kubernetes_secret_and_never_the_plan(local_model_plan: Plan):
    secret = k8s(local_model_plan, "Secret", "gateway-tenant-keys")
    assert secret.inputs["stringData"] == "[secret]", "the plan shows that a secret is there, not its value"
    plan_text = json.dumps(local_model_plan.to_json_dict())
    assert "sk-dev-team-0123456789abcdef" not in plan_text, "the key appears nowhere in the plan"
    gateway = k8s(local_model_plan, "Deployment", "gateway").inputs["spec"]["template"]["spec"]
    assert gateway["containers"][0]["command"][-2:] == ["--keys-file", "/etc/frugal-keys/tenant-keys.json"], (
        "the gateway reads the keys from the mounted Secret"
    )
    assert not local_model_plan.warnings or all("serving_api_keys" not in w for w in local_model_plan.warnings), (
        "no warning about missing keys once they are set"
    )


def test_clear_text_api_keys_are_refused():
    from infra.config import ConfigError

    config = as_engine_config(stack_values("dev"))
    config["frugal-llm:serving_api_keys"] = json.dumps({"dev-team": "sk-dev-team-0123456789abcdef"})
    with pytest.raises(ConfigError, match=r"serving_api_keys: is stored in clear text.*--secret"):
        run_offline("dev", config=config, secrets=[])


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(w.capitalize() for w in rest)


def test_the_s3_resources_use_pulumi_aws_property_names(any_plan: Plan):
    import importlib
    import inspect

    s3 = importlib.import_module("pulumi_aws.s3")
    checked = 0
    for r in any_plan.resources:
        if not r.type.startswith("aws:s3/"):
            continue
        cls_name = r.type.rsplit(":", 1)[1]
        cls = getattr(s3, f"{cls_name}InitArgs", None) or getattr(s3, f"{cls_name}Args")
        names = {_camel(p) for p in inspect.signature(cls.__init__).parameters if p != "__self__"}
        assert set(r.inputs) <= names, f"{r.type}: unknown inputs {set(r.inputs) - names}"
        checked += 1
    assert checked >= 6, "bucket, its settings and policy were checked"


def test_frugal_plan_does_not_load_the_s3_package():
    import subprocess
    import sys

    probe = (
        "import sys, contextlib, io\n"
        "from infra.offline import run_offline\n"
        "run_offline('prod')\n"
        "print('pulumi_aws.s3.bucket' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("False"), f"pulumi_aws.s3 (~0.2 s) stays unloaded: {r}"


def test_a_stack_without_serving_builds_none_of_it():
    values = stack_values("dev")
    values.pop("serving")
    plan = run_offline("dev", config=as_engine_config(values))
    serving_types = ("aws:s3/", "aws:ecr/", "aws:ec2/vpcEndpoint")
    assert not [r.name for r in plan.resources if r.type.startswith(serving_types)], "no serving resource at all"
    # The platform's provider and controllers stay: they are the cluster's, not serving's.
    assert not [r.name for r in plan.resources if "frugal:serving:" in r.urn], "no serving component or object"
    assert not [r.name for r in plan.resources if r.name.startswith("model-reader")], "and no model reader role"
    gpu_templates = [lt for lt in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate") if lt.name.startswith("pool-")]
    assert gpu_templates, "the GPU pools' launch templates are in the plan"
    for lt in gpu_templates:
        assert "MODEL_CACHE" not in base64.b64decode(lt.inputs["userData"]).decode(), "and no node cache"


def test_an_existing_vpc_gets_no_endpoint_and_a_warning():
    values = stack_values("dev")
    values["network"] = {"vpc_id": "vpc-0abc12345", "private_subnet_ids": ["subnet-0abc12345", "subnet-0def67890"]}
    plan = run_offline("dev", config=as_engine_config(values))
    assert not plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"), "the VPC's owner decides about endpoints"
    assert any("no S3 gateway endpoint" in w for w in plan.warnings), f"and is told what that costs: {plan.warnings}"


def test_the_advisors_pool_warnings_reach_the_plan():
    values = stack_values("prod")
    values["serving"]["tiers"][1].update(ctx_size=262144, n_gpu_layers=24)
    plan = run_offline("prod", config=as_engine_config(values))
    found = [w for w in plan.warnings if w.startswith("serving tier large: pool large: g6e.xlarge cannot hold")]
    assert len(found) == 1, f"frugal plan and preview print the plan's warnings: {plan.warnings}"
