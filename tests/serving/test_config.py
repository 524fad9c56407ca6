"""The serving section of the stack config: realistic tiers in both stacks, every bad value refused
with key, value, rule and fix, and local models pinned by the digest computed at plan time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, parse
from infra.serving_sizing import MIB, file_digest, kv_cache_bytes, memory_needs
from tests.fakes import stack_values


def _serving(values: dict[str, Any]) -> dict[str, Any]:
    serving: dict[str, Any] = values["serving"]
    return serving


def test_both_stacks_declare_tiers_on_their_pools_with_pinned_models():
    for stack in ("dev", "prod"):
        cfg = parse(stack, stack_values(stack))
        assert cfg.serving is not None, f"{stack} declares serving"
        pools = {p.name for p in cfg.pools}
        for tier in cfg.serving.tiers:
            assert tier.pool in pools, f"{stack}/{tier.name} runs on a pool of the stack"
            assert tier.model.sha256 and len(tier.model.sha256) == 64, f"{stack}/{tier.name} pins its model digest"
    dev, prod = parse("dev", stack_values("dev")), parse("prod", stack_values("prod"))
    assert dev.serving and prod.serving
    assert dev.serving.tiers[0].replicas.min == 0, "dev's model servers may scale to zero off-hours"
    assert prod.serving.gateway.replicas >= 2 and prod.serving.gateway.exposure == "internal-nlb", (
        "prod's gateway is highly available and reachable from the VPC"
    )
    assert dev.serving.gateway.replicas == 1 and not dev.cache.enabled, "dev keeps budgets in one replica's SQLite"


def _dev() -> dict[str, Any]:
    return stack_values("dev")


def _edit(path: str, value: Any):
    def edit(values: dict[str, Any]) -> None:
        node: Any = values
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value

    return edit


BAD = [
    ("unknown-pool", _edit("serving.tiers.0.pool", "huge"), "serving.tiers.0.pool", ["'huge'", "fix"]),
    (
        "on-demand-on-spot-pool",
        _edit("serving.tiers.0.capacity", "on-demand"),
        "serving.tiers.0.capacity",
        ["only spot nodes", "fix"],
    ),
    (
        "too-many-replicas",
        _edit("serving.tiers.0.replicas", {"min": 0, "max": 5}),
        "replicas.max",
        ["one model server per GPU"],
    ),
    (
        "min-over-max",
        _edit("serving.tiers.0.replicas", {"min": 3, "max": 2}),
        "serving.tiers.0.replicas",
        ["min <= max"],
    ),
    (
        "quantized-kv-without-flash",
        lambda v: (_edit("serving.tiers.0.kv_cache_type", "q8_0")(v), _edit("serving.tiers.0.flash_attn", False)(v)),
        "serving.tiers.0",
        ["flash attention"],
    ),
    ("bad-digest", _edit("serving.tiers.0.model.sha256", "abc"), "model.sha256", ["64 lowercase hex"]),
    ("s3-unpinned", _edit("serving.tiers.0.model.sha256", None), "serving.tiers.0.model", ["pinned by its digest"]),
    ("bad-uri", _edit("serving.tiers.0.model.s3_uri", "https://x/y.gguf"), "model.s3_uri", ["s3://<bucket>/<key>"]),
    (
        "image-tag",
        _edit("serving.image", {"reference": "ghcr.io/x/frugal:latest"}),
        "serving.image.reference",
        ["@sha256"],
    ),
    ("gateway-replicas-without-cache", _edit("serving.gateway.replicas", 2), "gateway.replicas", ["cache.enabled"]),
    ("bad-quantity", _edit("serving.gateway.memory", "lots"), "gateway.memory", ["Kubernetes quantity"]),
    ("unknown-tenant-tier", _edit("serving.gateway.tenants.0.allowed_tiers", ["huge"]), "allowed_tiers", ["'huge'"]),
    (
        "model-too-big-for-the-gpu",
        _edit("serving.tiers.0.model.size_bytes", 20 * 1024**3),
        "serving.tiers.0",
        ["GPU memory", "g4dn.xlarge (16384 MiB)", "fix"],
    ),
    ("typo", _edit("serving.tiers.0.ctx", 4096), "serving.tiers.0.ctx", ["unknown key"]),
]


@pytest.mark.parametrize("case_id, edit, key, words", BAD, ids=[c[0] for c in BAD])
def test_each_bad_serving_value_is_refused_naming_key_rule_and_fix(case_id, edit, key, words):
    values = _dev()
    edit(values)
    with pytest.raises(ConfigError) as caught:
        parse("dev", values)
    message = str(caught.value)
    assert key in message, f"{case_id}: names the key {key!r}: {message}"
    for word in words:
        assert word in message, f"{case_id}: explains the rule ({word!r}): {message}"


def test_a_prod_gateway_with_one_replica_is_refused():
    values = stack_values("prod")
    _serving(values)["gateway"]["replicas"] = 1
    with pytest.raises(ConfigError, match=r"gateway.replicas: got 1 in a prod stack"):
        parse("prod", values)


def test_a_tier_on_a_pool_labelled_for_another_tier_is_refused():
    values = stack_values("prod")
    _serving(values)["tiers"][0]["pool"] = "large"
    with pytest.raises(ConfigError, match=r"serves tier 'large', not 'small'"):
        parse("prod", values)


def test_a_local_gguf_gets_its_digest_size_and_shape_at_plan_time(small_gguf: Path, tmp_path: Path):
    values = _dev()
    _serving(values)["tiers"][0]["model"] = {"name": "gemma-3-270m-q4_k_m", "local_path": str(small_gguf)}
    cfg = parse("dev", values)
    assert cfg.serving is not None
    model = cfg.serving.tiers[0].model
    digest, size = file_digest(small_gguf)
    assert (model.sha256, model.size_bytes) == (digest, size), "the plan pins the file's own digest and size"
    assert model.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", (
        "the digest is the one the model package publishes"
    )
    assert model.shape is not None and (model.shape.layers, model.shape.kv_heads, model.shape.head_dim) == (
        18,
        1,
        256,
    ), "Gemma 3 270M: 18 layers, 1 KV head of 256 (its published config), read from the GGUF header"


def test_a_local_gguf_that_differs_from_its_pinned_digest_or_is_missing_is_refused(small_gguf: Path):
    values = _dev()
    _serving(values)["tiers"][0]["model"] = {"name": "m", "local_path": str(small_gguf), "sha256": "0" * 64}
    with pytest.raises(ConfigError, match=r"model.sha256: got 0{64}, the file has a5fd3b"):
        parse("dev", values)
    _serving(values)["tiers"][0]["model"] = {"name": "m", "local_path": "models/nope.gguf"}
    with pytest.raises(ConfigError, match=r"model.local_path: got 'models/nope.gguf'.*does not exist"):
        parse("dev", values)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model at all")
    values = _dev()
    _serving(values)["tiers"][0]["model"] = {"name": "m", "local_path": str(bogus)}
    with pytest.raises(ConfigError, match="not a GGUF file"):
        parse("dev", values)


def test_the_digest_cache_rehashes_a_changed_file(tmp_path: Path):
    cache = tmp_path / "digests.json"
    f = tmp_path / "m.bin"
    f.write_bytes(b"a" * 100)
    first = file_digest(f, cache)
    f.write_bytes(b"b" * 101)
    second = file_digest(f, cache)
    assert first != second and second[1] == 101, "a changed file is hashed again, not served from the cache"
    assert file_digest(f, cache) == second, "an unchanged file gives the cached digest"


def test_kv_cache_bytes_follow_llama_cpp_layout():
    from infra.config import ModelShape

    shape = ModelShape(layers=32, kv_heads=8, head_dim=128)
    # Llama 3.1 8B at 4096 tokens, f16: 2 x 32 x 8 x 128 x 4096 x 2 bytes = 512 MiB (llama.cpp logs this).
    assert kv_cache_bytes(shape, 4096, 1, "f16") == 512 * MIB, "K and V, every layer, every cell, 2 bytes"
    assert kv_cache_bytes(shape, 4096, 1, "q8_0") == 512 * MIB * 34 // 64, "q8_0 stores 34 bytes per 32 elements"
    assert kv_cache_bytes(shape, 1000, 3, "f16") == kv_cache_bytes(shape, 3 * 512, 3, "f16"), (
        "each slot's cells are rounded up to 256"
    )


def test_memory_needs_split_between_gpu_and_host_by_offloaded_layers():
    cfg = parse("prod", stack_values("prod"))
    assert cfg.serving is not None
    small = cfg.serving.tiers[0]
    full = memory_needs(small)
    half = memory_needs(small.model_copy(update={"n_gpu_layers": 16}))
    assert full is not None and half is not None
    assert full.host_request_bytes == 1024 * MIB, "fully offloaded: the host holds only the process"
    assert half.host_request_bytes > full.host_request_bytes + 4 * 1024 * MIB, "half the layers on the host"
    assert full.host_limit_bytes == full.host_request_bytes + full.weights_bytes, (
        "the limit leaves room for the mapped file"
    )


def test_a_fully_offloaded_pod_needs_the_advisors_memory_plan_on_its_gpu():
    from infra.advisor.memory import CUDA_OVERHEAD_BYTES
    from infra.serving_sizing import COMPUTE_BUFFER_BYTES, tier_memory_plan

    cfg = parse("prod", stack_values("prod"))
    assert cfg.serving is not None
    for tier in cfg.serving.tiers:
        planned, needs = tier_memory_plan(tier), memory_needs(tier)
        assert planned is not None and needs is not None, f"{tier.name}: size and shape are pinned"
        assert needs.gpu_bytes == planned.total_bytes, f"{tier.name}: the pod's GPU need is the advisor's total"
        assert planned.kv.bytes == kv_cache_bytes(tier.model.shape, tier.ctx_size, tier.parallel, tier.kv_cache_type), (
            f"{tier.name}: one KV-cache formula"
        )
        assert planned.margin_bytes == COMPUTE_BUFFER_BYTES + CUDA_OVERHEAD_BYTES, (
            f"{tier.name}: without the vocabulary the documented compute buffer stands in for the advisor's estimate"
        )
        assert planned.server_ctx_size >= tier.ctx_size, f"{tier.name}: the plan covers the server's --ctx-size"


def test_the_stacks_pools_hold_their_tiers_models_by_the_advisors_verdict():
    from infra.serving_sizing import pool_fit_warnings

    for name in ("dev", "prod"):
        cfg = parse(name, stack_values(name))
        assert cfg.serving is not None
        pools = {pool.name: pool.instance_types for pool in cfg.pools}
        assert pool_fit_warnings(cfg.serving.tiers, pools) == [], f"{name}: every pool type holds its tier's model"


def test_the_advisor_names_pool_types_that_cannot_hold_a_partly_offloaded_model():
    from infra.serving_sizing import pool_fit_warnings

    values = stack_values("prod")
    large = values["serving"]["tiers"][1]
    # 24 of 64 layers on the GPU: the config accepts it (the offloaded share fits 24 GB), but no
    # single-GPU type of the pool holds the whole model and its 256k-token cache.
    large.update(ctx_size=262144, n_gpu_layers=24)
    cfg = parse("prod", values)
    assert cfg.serving is not None
    warnings = pool_fit_warnings(cfg.serving.tiers, {pool.name: pool.instance_types for pool in cfg.pools})
    assert warnings, "the advisor's verdict is reported"
    assert all(w.startswith("serving tier large: pool large: ") for w in warnings), (
        f"named by tier and pool: {warnings}"
    )
    assert any("g6e.xlarge cannot hold the qwen2.5-32b-instruct-q4_k_m model" in w for w in warnings), warnings
    assert not any("g5.12xlarge" in w for w in warnings), "a 4-GPU type holds it split by layers"
