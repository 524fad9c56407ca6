"""Model arithmetic for the serving tiers: digests, the GGUF attention shape, KV-cache bytes, memory per pod.

Pure (no Pulumi import). Used by config validation (a model must fit its pool's GPUs), by the
manifests (memory requests) and by the tests.

Memory of one llama-server, as llama.cpp allocates it:
- weights: the GGUF file's size; the share of layers on the GPU (`--n-gpu-layers`) lives in GPU memory,
  the rest in host memory;
- KV cache: for each layer a K and a V tensor of `kv_heads x head_dim` elements per cell; the server's
  `--ctx-size` cells are split between its `--parallel` slots, each slot's share rounded up to 256
  cells; bytes per element: f16 2, q8_0 34/32, q4_0 18/32 (ggml's block layouts). Sliding-window
  layers (Gemma 2/3) keep fewer cells; counting them in full over-estimates, the safe side;
- a margin: 1 GiB per GPU for the CUDA context and cuBLAS workspace, 512 MiB for the compute buffer,
  and 1 GiB of host memory for the process itself (HTTP server, tokenizer, buffers).
The arithmetic is the right-sizing advisor's (infra.advisor.memory): a tier's model becomes the
advisor's ModelFacts from its shape and size, and its memory plan sizes the pod. The shape does not
carry the vocabulary the advisor's compute-buffer estimate needs, so the 512 MiB above stands in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from infra.advisor.facts import ModelFacts, repeat
from infra.advisor.memory import MemoryPlan, kv_cache
from infra.advisor.memory import plan as memory_plan
from infra.catalog import load_catalog


# What these functions read of the config's ModelShape, ModelSource and ServingTier (infra/config.py,
# which imports this module to validate tiers): read-only views, so no import runs back to it.
class ShapeLike(Protocol):
    @property
    def layers(self) -> int: ...
    @property
    def kv_heads(self) -> int: ...
    @property
    def head_dim(self) -> int: ...


class ModelLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def size_bytes(self) -> int | None: ...
    @property
    def shape(self) -> ShapeLike | None: ...


class TierLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def pool(self) -> str: ...
    @property
    def model(self) -> ModelLike: ...
    @property
    def ctx_size(self) -> int: ...
    @property
    def parallel(self) -> int: ...
    @property
    def kv_cache_type(self) -> str: ...
    @property
    def n_gpu_layers(self) -> int: ...


GIB = 1024**3
MIB = 1024**2
COMPUTE_BUFFER_BYTES = 512 * MIB
HOST_PROCESS_BYTES = GIB


# --- digests -----------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def digest_cache_path(environ: Mapping[str, str] | None = None) -> Path:
    env = environ if environ is not None else os.environ
    base = env.get("FRUGAL_CACHE_DIR") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "frugal")
    return Path(base) / "model-digests.json"


def file_digest(path: Path, cache: Path | None = None) -> tuple[str, int]:
    """(sha256, size) of a file; remembered by path, size and mtime so a multi-GB model is hashed once.

    A changed file changes its size or mtime and is hashed again; the cache is a convenience, a
    corrupt or unwritable one is ignored.
    """
    stat = path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    known: dict[str, str] = {}
    if cache is not None and cache.is_file():
        try:
            loaded = json.loads(cache.read_text())
            known = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            known = {}
    if isinstance(known.get(ident), str):
        return known[ident], stat.st_size
    digest = sha256_file(path)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**known, ident: digest}, indent=0, sort_keys=True))
            tmp.replace(cache)
        except OSError:
            pass
    return digest, stat.st_size


# --- the GGUF header ---------------------------------------------------------------------------


def gguf_shape(path: Path) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) from a GGUF header; per-layer KV head counts give their maximum.

    Raises infra.gguf_file.GgufError when the file is not GGUF or lacks the attention layout.
    """
    # Imported here: the gguf library loads numpy and its tables, which only a local model needs.
    from gguf.constants import Keys

    from infra.gguf_file import GgufError, read_gguf_file

    meta = read_gguf_file(path)
    arch = meta.architecture
    if arch is None:
        raise GgufError(f"{path}: no general.architecture in the header; fix: point to a llama.cpp language model")

    def number(template: str) -> int | None:
        value = meta.arch_value(template)
        if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return int(max(value))
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    layers, heads = number(Keys.LLM.BLOCK_COUNT), number(Keys.Attention.HEAD_COUNT)
    kv_heads = number(Keys.Attention.HEAD_COUNT_KV) or heads
    head_dim = number(Keys.Attention.KEY_LENGTH)
    if head_dim is None and heads and (width := number(Keys.LLM.EMBEDDING_LENGTH)):
        head_dim = width // heads
    if not layers or not kv_heads or not head_dim:
        raise GgufError(
            f"{path}: the {arch} header lacks block_count / head counts / key length, which size the KV cache; "
            "fix: point to a llama.cpp language model, or state model.shape in the config"
        )
    return layers, kv_heads, head_dim


# --- memory ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryNeeds:
    weights_bytes: int
    kv_bytes: int
    gpu_bytes: int
    """GPU memory one server needs: offloaded weights and KV cache + CUDA context + compute buffer."""
    host_request_bytes: int
    """Host memory to request: what is not offloaded + the process itself."""
    host_limit_bytes: int
    """The limit adds the file's size: its mapped pages are charged to the pod while the model loads."""


def shape_facts(name: str, shape: ShapeLike, size_bytes: int) -> ModelFacts:
    """The advisor's facts of a model known by its attention shape and file size (the file's bytes
    stand in for its tensors' bytes: a little more, the safe side)."""
    return ModelFacts(
        name=name,
        architecture="unknown",
        parameters=0,
        layers=shape.layers,
        heads=shape.kv_heads,
        kv_heads=repeat(shape.kv_heads, shape.layers),
        head_dim_k=shape.head_dim,
        head_dim_v=shape.head_dim,
        embedding_length=0,
        vocab_size=0,
        trained_context=0,
        source="the stack's serving config (shape and size_bytes)",
        file_type=name,
        file_bytes=size_bytes,
        tensor_bytes=size_bytes,
    )


def kv_cache_bytes(shape: ShapeLike, ctx_size: int, parallel: int, kv_type: str) -> int:
    return kv_cache(shape_facts("model", shape, 0), ctx_size, parallel, kv_type).bytes


def tier_memory_plan(tier: TierLike) -> MemoryPlan | None:
    """The advisor's memory plan of one model server of the tier; None until the model's size and shape are known."""
    model = tier.model
    if model.size_bytes is None or model.shape is None:
        return None
    facts = shape_facts(model.name, model.shape, model.size_bytes)
    planned = memory_plan(facts, None, math.ceil(tier.ctx_size / tier.parallel), tier.parallel, tier.kv_cache_type)
    # Without the vocabulary the advisor's compute-buffer estimate is 0; the documented buffer stands in.
    return replace(planned, compute_bytes=max(planned.compute_bytes, COMPUTE_BUFFER_BYTES))


def offloaded_share(n_gpu_layers: int, layers: int) -> float:
    if n_gpu_layers < 0 or n_gpu_layers >= layers:
        return 1.0
    return n_gpu_layers / layers


def memory_needs(tier: TierLike) -> MemoryNeeds | None:
    """What one model server of the tier needs; None until the model's size and shape are known."""
    planned = tier_memory_plan(tier)
    if planned is None:
        return None
    kv = planned.kv.bytes
    share = offloaded_share(tier.n_gpu_layers, planned.layers)
    on_gpu = int((planned.weights_bytes + kv) * share)
    on_host = planned.weights_bytes + kv - on_gpu
    gpu = on_gpu + planned.margin_bytes if share > 0 else 0
    request = on_host + HOST_PROCESS_BYTES
    return MemoryNeeds(
        weights_bytes=planned.weights_bytes,
        kv_bytes=kv,
        gpu_bytes=gpu,
        host_request_bytes=request,
        host_limit_bytes=request + planned.weights_bytes,
    )


def pool_fit_warnings(tiers: Sequence[TierLike], pools: Mapping[str, Sequence[str]]) -> list[str]:
    """The right-sizing advisor's verdict on each tier's pool (`pools`: name -> instance types): every
    type that cannot hold one server of the tier's model, or that the advisor cannot place. Config
    validation already refuses a model that misses one GPU; these are what `frugal plan`/`preview` add."""
    from infra.advisor.rank import pool_warnings

    warnings = []
    for tier in tiers:
        planned = tier_memory_plan(tier)
        if planned is not None:
            found = pool_warnings({tier.pool: pools[tier.pool]}, planned)
            warnings += [f"serving tier {tier.name}: {w}" for w in found]
    return warnings


def mebibytes(n: int) -> str:
    """A Kubernetes quantity in Mi, rounded up."""
    return f"{math.ceil(n / MIB)}Mi"


def gpu_fit_problem(tier: TierLike, instance_types: list[str]) -> str | None:
    """Why the tier's model server does not fit one GPU of every instance type of its pool, or None."""
    needs = memory_needs(tier)
    if needs is None:
        return None
    catalog = load_catalog()
    too_small = []
    for itype in instance_types:
        spec = catalog.get(itype)
        if spec is None or spec.gpu is None:
            continue
        if needs.gpu_bytes > spec.gpu.memory_mib_per_gpu * MIB:
            too_small.append(f"{itype} ({spec.gpu.memory_mib_per_gpu} MiB)")
    if not too_small:
        return None
    return (
        f"model {tier.model.name} needs {math.ceil(needs.gpu_bytes / MIB)} MiB of GPU memory (weights "
        f"{math.ceil(needs.weights_bytes / MIB)} MiB + KV cache {math.ceil(needs.kv_bytes / MIB)} MiB for ctx_size "
        f"{tier.ctx_size} at {tier.kv_cache_type} + margin); rule: one model server fits one GPU of every instance "
        f"type of its pool, too small: {', '.join(too_small)}; fix: lower ctx_size/parallel, use kv_cache_type "
        "q8_0, or remove those types from the pool"
    )
