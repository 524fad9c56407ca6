"""GPU memory a llama-server needs: weights + KV cache for every slot + a documented runtime margin.

KV cache, as llama.cpp allocates it (src/llama-kv-cache*.cpp): for each layer a K and a V tensor of
`kv_heads x head_dim` elements per cell, at the chosen cache type. The server's `--ctx-size` is the
total number of cells shared by its `--parallel` slots, so a per-request context of N tokens for P
slots needs `--ctx-size N x P`. Each slot's cells are rounded up to a multiple of 256. Layers with a
sliding window (Gemma 2/3 and others) keep only `window + micro-batch` cells per slot, rounded up to 256.

Bytes per element: f16 2; q8_0 34 bytes per block of 32; q4_0 18 per 32 (ggml's block layouts).
Quantized V caches need FlashAttention, which llama-server turns on by default where the GPU has it.

Runtime margin (not measured here, documented): the compute buffer, estimated as 4 bytes x 512 tokens
(llama-server's default micro-batch) x (vocabulary + 4 x embedding width): the logits of one micro-batch
plus activations; plus 1 GiB per GPU for the CUDA context, cuBLAS workspace and fragmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.advisor.facts import ModelFacts
from infra.advisor.quality import bits_per_weight, canonical

GIB = 1024**3
KV_BYTES_PER_ELEMENT = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
                        "q4_1": 20 / 32, "q4_0": 18 / 32}  # fmt: skip
CELL_PAD = 256
N_UBATCH = 512
CUDA_OVERHEAD_BYTES = GIB


@dataclass(frozen=True)
class KvCache:
    cells_full: int
    cells_swa: int
    bytes_full: int
    bytes_swa: int

    @property
    def bytes(self) -> int:
        return self.bytes_full + self.bytes_swa


@dataclass(frozen=True)
class MemoryPlan:
    quant: str
    weights_bytes: int
    weights_basis: str
    """How the weight bytes were found: the file's own tensors, or parameters x published bits per weight."""
    bytes_per_token: int
    """Weight bytes read to decode one token (all weights but the token-embedding table)."""
    kv: KvCache
    kv_type: str
    compute_bytes: int
    overhead_bytes: int
    ctx_per_slot: int
    parallel: int
    layers: int
    """The model's layers: a server split over several GPUs places whole layers on each."""

    @property
    def server_ctx_size(self) -> int:
        """llama-server's --ctx-size for this plan: every slot's context together."""
        return self.ctx_per_slot * self.parallel

    @property
    def margin_bytes(self) -> int:
        return self.compute_bytes + self.overhead_bytes

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv.bytes + self.margin_bytes


def _pad(n: int, to: int = CELL_PAD) -> int:
    return int(math.ceil(n / to) * to)


def kv_type_name(kv_type: str) -> str:
    key = kv_type.strip().lower()
    if key not in KV_BYTES_PER_ELEMENT:
        raise ValueError(f"unknown KV cache type {kv_type!r}; llama.cpp accepts {', '.join(KV_BYTES_PER_ELEMENT)}")
    return key


def kv_cache(facts: ModelFacts, server_ctx: int, parallel: int, kv_type: str = "f16", unified: bool = False) -> KvCache:
    """The KV cache llama.cpp allocates for `--ctx-size server_ctx` shared by `--parallel parallel` slots.

    llama-server keeps one cache stream per slot unless started with --kv-unified (it logs
    `kv_unified = false` when --parallel is given): each slot then gets ceil(ctx / slots) cells rounded up
    to 256, and each sliding-window layer min(slot cells, window + micro-batch) cells per slot.
    """
    if server_ctx < 1 or parallel < 1:
        raise ValueError(f"context {server_ctx} and parallel {parallel} must both be at least 1")
    per_element = KV_BYTES_PER_ELEMENT[kv_type_name(kv_type)]
    elems_full, elems_swa = facts.kv_elements_per_token_split()
    window = facts.sliding_window
    if unified:
        cells = _pad(server_ctx)
        cells_swa = _pad(min(cells, (window or cells) * parallel + N_UBATCH)) if elems_swa else 0
    else:
        per_slot = _pad(math.ceil(server_ctx / parallel))
        cells = per_slot * parallel
        cells_swa = parallel * _pad(min(per_slot, (window or per_slot) + N_UBATCH)) if elems_swa else 0
    return KvCache(
        cells_full=cells,
        cells_swa=cells_swa,
        bytes_full=int(cells * elems_full * per_element),
        bytes_swa=int(cells_swa * elems_swa * per_element),
    )


def weights(facts: ModelFacts, quant: str | None) -> tuple[str, int, int, str]:
    """(quant, weight bytes, bytes read per decoded token, basis) for the file's own type or a requantization."""
    if quant is None or (facts.file_type is not None and canonical_or_none(quant) == facts.file_type):
        if facts.tensor_bytes is None or facts.file_type is None:
            raise ValueError(f"{facts.name}: no file to measure; choose a quantization with --quant")
        per_token = facts.tensor_bytes - (facts.token_embd_bytes or 0)
        if per_token <= 0:
            raise ValueError(f"{facts.name}: the file has no weights besides the token embedding; not a language model")
        return facts.file_type, facts.tensor_bytes, per_token, "the file's tensors (GGUF tensor table)"
    quant = canonical(quant)
    bpw = bits_per_weight(facts, quant)
    total = int(facts.parameters * bpw.value / 8)
    embd_share = facts.vocab_size * facts.embedding_length / facts.parameters
    per_token = int(total * (1 - embd_share))
    basis = f"{facts.parameters:,} parameters x {bpw.value} bits per weight ({bpw.measured_on}; {bpw.source})"
    return quant, total, per_token, basis


def canonical_or_none(quant: str) -> str | None:
    try:
        return canonical(quant)
    except ValueError:
        return quant.strip().upper()


def plan(
    facts: ModelFacts,
    quant: str | None,
    ctx_per_slot: int,
    parallel: int,
    kv_type: str = "f16",
    unified: bool = False,
) -> MemoryPlan:
    """The memory plan of one llama-server serving `facts` at `quant` with `parallel` slots of `ctx_per_slot`."""
    if ctx_per_slot < 1 or parallel < 1:
        raise ValueError(f"--ctx {ctx_per_slot} and --parallel {parallel} must both be at least 1")
    name, weight_bytes, per_token, basis = weights(facts, quant)
    compute = 4 * N_UBATCH * (facts.vocab_size + 4 * facts.embedding_length)
    return MemoryPlan(
        quant=name,
        weights_bytes=weight_bytes,
        weights_basis=basis,
        bytes_per_token=per_token,
        kv=kv_cache(facts, ctx_per_slot * parallel, parallel, kv_type, unified),
        kv_type=kv_type_name(kv_type),
        compute_bytes=compute,
        overhead_bytes=CUDA_OVERHEAD_BYTES,
        ctx_per_slot=ctx_per_slot,
        parallel=parallel,
        layers=facts.layers,
    )
