"""The model-server pod and the gateway, run here exactly as the dev stack's manifests say.

The init step and llama-server run with the command, args and env taken from the built Deployment;
only what the cluster supplies differs, each substituted explicitly below: the executables' paths in
the image (/opt/frugal/venv/bin/python, /app/llama-server) become this machine's, the node's cache
(a hostPath) becomes a temporary directory, the listen address and port become 127.0.0.1 and a free
port, and the pod's workload identity and VPC endpoint become a local S3 (moto's server) with test
credentials. The S3 object is the real small GGUF the dev stack pins. The gateway then runs the
manifest's command with the config the stack rendered, its tier's Service name mapped to the local
llama-server, and answers a chat through the official openai client.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from infra.serving_common import IMAGE_PYTHON
from infra.serving_gateway import per_1k, replica_price, router_config, tier_url
from infra.serving_gateway_objects import KEYS_FILE
from infra.serving_models import CACHE_MOUNT, IMAGE_LLAMA_SERVER
from runtime.assets import AssetError, llama_server_binary
from tests.serving.manifests import find, manifests_for, stack
from tests.serving.s3_server import CountingMotoServer, local_s3

pytestmark = pytest.mark.slow
API_KEY = "sk-dev-team-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def localize(argv: list[str], cache: Path, port: int | None = None) -> list[str]:
    """The container's argv with only the cluster-supplied parts replaced (see the module doc)."""
    out = []
    binary = str(llama_server_binary())
    for arg in argv:
        arg = {IMAGE_PYTHON: sys.executable, IMAGE_LLAMA_SERVER: binary}.get(arg, arg)
        out.append(arg.replace(CACHE_MOUNT, str(cache)))
    if port is not None:
        out[out.index("--port") + 1] = str(port)
        out[out.index("--host") + 1] = "127.0.0.1"
    return out


def pod_env(container: dict[str, Any], s3: CountingMotoServer) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **env, **s3.env()}


@pytest.fixture(scope="module")
def dev() -> dict[str, Any]:
    try:
        llama_server_binary()
    except AssetError as exc:
        pytest.fail(f"these tests run the real llama-server: {exc}")
    cfg = stack("dev")
    assert cfg.serving is not None
    objs = manifests_for(cfg)
    pod = find(objs, "Deployment", "small-model")["spec"]["template"]["spec"]
    secret = find(objs, "Secret", "gateway-tenant-keys")
    return {"cfg": cfg, "tier": cfg.serving.tiers[0], "pod": pod, "objs": objs, "secret": secret}


@pytest.fixture(scope="module")
def s3(dev: dict[str, Any], small_gguf: Path) -> Iterator[CountingMotoServer]:
    bucket, key = dev["tier"].model.s3_bucket_and_key
    with local_s3() as server:
        client = server.client()
        client.create_bucket(Bucket=bucket)
        client.upload_file(str(small_gguf), bucket, key)
        yield server


def run_init(dev: dict[str, Any], s3: CountingMotoServer, cache: Path, uri: str | None = None) -> Any:
    init = dev["pod"]["initContainers"][0]
    argv = localize([*init["command"], *init["args"]], cache)
    if uri is not None:
        argv[argv.index("--uri") + 1] = uri
    return subprocess.run(argv, env=pod_env(init, s3), capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node-cache")


def test_the_init_step_verifies_and_caches_then_a_restart_reuses_without_downloading(dev, s3, cache):
    bucket, key = dev["tier"].model.s3_bucket_and_key
    first = run_init(dev, s3, cache)
    assert first.returncode == 0, f"the pinned model is fetched and verified: {first.stdout}{first.stderr}"
    assert '"outcome": "downloaded"' in first.stdout, first.stdout
    cached = cache / f"{dev['tier'].model.sha256}.gguf"
    assert cached.stat().st_size == dev["tier"].model.size_bytes, "the cache holds the whole model, by digest"
    assert s3.gets(bucket, key) == 1, "one GET"
    second = run_init(dev, s3, cache)
    assert second.returncode == 0 and '"outcome": "hit"' in second.stdout, f"a restart reuses it: {second.stdout}"
    assert s3.gets(bucket, key) == 1, "the restart downloaded nothing"


def test_a_corrupted_object_is_refused_and_leaves_no_model_behind(dev, s3, small_gguf, tmp_path):
    bucket, _ = dev["tier"].model.s3_bucket_and_key
    data = bytearray(small_gguf.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the weights
    s3.client().put_object(Bucket=bucket, Key="corrupted.gguf", Body=bytes(data))
    r = run_init(dev, s3, tmp_path, uri=f"s3://{bucket}/corrupted.gguf")
    assert r.returncode == 3, f"the pod's init step fails: {r.stdout}{r.stderr}"
    assert "is not the pinned model" in r.stdout, r.stdout
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob("*.verified")), "nothing a pod could use"


@pytest.fixture(scope="module")
def model_server(dev, s3, cache) -> Iterator[str]:
    if not (cache / f"{dev['tier'].model.sha256}.verified").exists():
        assert run_init(dev, s3, cache).returncode == 0, "the init step ran before the server, as in the pod"
    container = dev["pod"]["containers"][0]
    port = free_port()
    argv = localize([*container["command"], *container["args"]], cache, port)
    log = (cache.parent / "llama-server.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={"PATH": os.environ["PATH"]})
    url = f"http://127.0.0.1:{port}"
    startup = container["startupProbe"]
    deadline = time.monotonic() + startup["periodSeconds"] * startup["failureThreshold"]
    try:
        while True:
            assert proc.poll() is None, (
                f"llama-server exited: {(cache.parent / 'llama-server.log').read_text()[-2000:]}"
            )
            assert time.monotonic() < deadline, "llama-server became ready within the startup probe's budget"
            try:
                if httpx.get(url + startup["httpGet"]["path"], timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_llama_server_runs_with_the_manifests_args_and_answers_the_probes(dev, model_server):
    container = dev["pod"]["containers"][0]
    assert httpx.get(model_server + container["readinessProbe"]["httpGet"]["path"], timeout=5).status_code == 200
    live = container["livenessProbe"]
    slots = httpx.get(model_server + live["httpGet"]["path"], timeout=live["timeoutSeconds"])
    assert slots.status_code == 200 and len(slots.json()) == dev["tier"].parallel, "the liveness path lists the slots"
    props = httpx.get(model_server + "/props", timeout=5).json()
    assert props["total_slots"] == dev["tier"].parallel, "--parallel from the manifest"
    assert props["default_generation_settings"]["n_ctx"] == dev["tier"].ctx_size // dev["tier"].parallel, (
        "--ctx-size from the manifest, split over the slots"
    )


@pytest.fixture(scope="module")
def gateway(dev, model_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("gateway")
    cfg, tier = dev["cfg"], dev["tier"]
    config_map = find(dev["objs"], "ConfigMap", "gateway-config")
    rendered = config_map["data"]["router.yaml"]
    # The Service name resolves to the local llama-server; the budget file lives in the test's tmp.
    rendered = rendered.replace(tier_url(cfg.serving, tier), model_server)
    data = yaml.safe_load(rendered)
    data["budget"]["sqlite_path"] = str(tmp / "spend.sqlite3")
    (tmp / "router.yaml").write_text(yaml.safe_dump(data))
    (tmp / KEYS_FILE).write_text(json.dumps({"dev-team": API_KEY}))
    pod = find(dev["objs"], "Deployment", "gateway")["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    argv = [sys.executable if a == IMAGE_PYTHON else a for a in command]
    argv[argv.index("--config") + 1] = str(tmp / "router.yaml")
    argv[argv.index("--keys-file") + 1] = str(tmp / KEYS_FILE)
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "FRUGAL_HOST": "127.0.0.1",
        "FRUGAL_PORT": str(port),
        "FRUGAL_CACHE_DIR": str(tmp / "cache"),
    }
    log = (tmp / "gateway.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"the gateway exited: {(tmp / 'gateway.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the gateway became ready"
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_the_gateway_answers_a_chat_with_tier_and_the_stacks_price(dev, gateway):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key=API_KEY, max_retries=0, timeout=120)
    raw = client.chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    answer = raw.parse()
    assert answer.choices[0].message.content, "llama-server answered through the gateway"
    assert raw.headers["x-frugal-tier"] == "small", "the tier is named"
    cost = Decimal(raw.headers["x-frugal-cost-usd"])
    prompt, completion = per_1k(replica_price(dev["cfg"], dev["tier"]), dev["tier"])
    assert answer.usage is not None
    expected = (answer.usage.prompt_tokens * prompt + answer.usage.completion_tokens * completion) / 1000
    assert cost == expected.quantize(Decimal("0.000000001")), (
        f"the charge is the stack's price per token: {cost} vs {expected}"
    )
    assert cost > 0, "a real request costs something"
    denied = httpx.post(gateway + "/v1/chat/completions", json={"model": "small", "messages": []}, timeout=10)
    assert denied.status_code == 401, "without a tenant key from the Secret, no answer"


def test_the_rendered_config_is_what_the_configmap_holds(dev):
    cfg = dev["cfg"]
    data = yaml.safe_load(find(dev["objs"], "ConfigMap", "gateway-config")["data"]["router.yaml"])
    assert data == router_config(cfg), "the gateway ran the stack's own rendering"
