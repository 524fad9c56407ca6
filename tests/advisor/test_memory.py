"""Weights, KV cache and margin: the KV formula against published per-model figures, padding, sliding windows."""

from __future__ import annotations

import json

import pytest

from infra.advisor import memory
from infra.advisor.facts import ModelFacts, repeat
from infra.advisor.families import family
from tests.paths import SHARED_DATA

GIB, KIB = 1024**3, 1024

# Published F16 KV cache per model (config.json shapes; llama.cpp's logs agree for 7B and 8B):
# KiB per token, and GiB at a context.
PUBLISHED_KV = {
    "llama-2-7b": (512, 2.0, 4096),
    "llama-2-13b": (800, 3.125, 4096),
    "llama-2-70b": (320, 1.25, 4096),
    "llama-3-8b": (128, 1.0, 8192),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_KV))
def test_kv_cache_bytes_match_the_formula_and_the_published_figure(name: str) -> None:
    f = family(name)
    kib_per_token, gib, ctx = PUBLISHED_KV[name]
    per_token = 2 * f.layers * f.kv_heads[0] * f.head_dim_k * 2
    assert per_token == kib_per_token * KIB, f"{name}: 2 x layers x kv heads x head dim x 2 bytes = {per_token}"
    kv = memory.kv_cache(f, ctx, 1, "f16")
    assert kv.bytes == gib * GIB, f"{name}: {kv.bytes / GIB} GiB at {ctx} tokens, published {gib}"


def test_quantized_kv_caches_use_ggml_block_sizes() -> None:
    import gguf

    for name, ggml in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
        block, size = gguf.GGML_QUANT_SIZES[ggml]
        assert memory.KV_BYTES_PER_ELEMENT[name] == size / block, f"{name}: ggml stores {size} bytes per {block}"
    f = family("llama-3-8b")
    ratio = memory.kv_cache(f, 8192, 1, "q8_0").bytes / memory.kv_cache(f, 8192, 1, "f16").bytes
    assert ratio == pytest.approx(0.53125), "q8_0 KV is about 0.53x F16"


def test_the_cell_count_is_rounded_up_to_256_and_shared_by_the_slots() -> None:
    f = family("llama-3-8b")
    assert memory.kv_cache(f, 1000, 1).cells_full == 1024, "1,000 cells round up to 1,024"
    p = memory.plan(f, "Q4_K_M", ctx_per_slot=4096, parallel=8)
    assert p.server_ctx_size == 32768 and p.kv.cells_full == 32768, "8 slots of 4,096 = --ctx-size 32768"
    assert p.kv.bytes == 4 * GIB, "128 KiB per token x 32,768 cells"


def _slider(window: int) -> ModelFacts:
    return ModelFacts(
        name="slider", architecture="gemma3", parameters=10**8, layers=6, heads=4, kv_heads=repeat(1, 6),
        head_dim_k=256, head_dim_v=256, embedding_length=640, vocab_size=1000, trained_context=32768,
        source="test", sliding_window=window, swa_layers=(True, True, True, True, True, False),
    )  # fmt: skip


def test_sliding_window_layers_keep_only_window_plus_a_micro_batch_per_slot() -> None:
    kv = memory.kv_cache(_slider(512), 8192, 2, "f16")
    assert kv.cells_full == 8192, "the full-attention layer keeps every cell"
    assert kv.cells_swa == 2 * 1024, "per slot: window 512 + micro-batch 512 = 1,024 cells, for 2 slots"
    assert kv.bytes_full == 8192 * 1 * 512 * 2, "one full layer: cells x (K 256 + V 256) x 2 bytes"
    assert kv.bytes_swa == 2048 * 5 * 512 * 2, "five sliding layers at the capped cell count"
    short = memory.kv_cache(_slider(512), 1024, 2, "f16")
    assert short.cells_swa == 1024, "never more sliding cells than a slot's own context (512 each)"
    unified = memory.kv_cache(_slider(512), 8192, 2, "f16", unified=True)
    assert unified.cells_swa == 1536, "--kv-unified: window x 2 slots + 512 = 1,536 shared cells"


def test_slot_contexts_round_up_to_256_cells_each_as_llama_server_does() -> None:
    kv = memory.kv_cache(family("llama-3-8b"), 2000, 3)
    assert kv.cells_full == 3 * 768, "2,000 / 3 slots = 667 -> 768 cells per slot (llama-server logs n_ctx 2304)"


def test_family_parameter_counts_match_the_measured_and_published_counts() -> None:
    raw = json.loads((SHARED_DATA / "gpu" / "llama-cpp-h200-8b-fa-on.json").read_text())
    measured = raw["models"]["F16"]["n_params"]
    assert family("llama-3-8b").parameters == measured, "Llama-3-8B shape gives llama.cpp's own count"
    assert family("llama-2-7b").parameters == 6_738_415_616, "Llama-2-7B: 6.74 B parameters"


def test_family_weights_at_a_quantization_are_parameters_times_published_bits_per_weight() -> None:
    p = memory.plan(family("llama-2-13b"), "q4_k_m", ctx_per_slot=4096, parallel=1)
    assert p.quant == "Q4_K_M", "type names are case-insensitive"
    assert p.weights_bytes == int(13_015_864_320 * 4.83 / 8), "13B x 4.83 bpw (llama.cpp's Llama-2-13B figure)"
    assert abs(p.weights_bytes / 7.87e9 - 1) < 0.01, "within 1% of the published 7.87 GB Q4_K_M file"
    assert "4.83 bits per weight" in p.weights_basis, "the basis names the figure used"
    assert p.total_bytes == p.weights_bytes + p.kv.bytes + p.compute_bytes + p.overhead_bytes, "total is the sum"


def test_bad_sizes_and_types_are_clear_errors() -> None:
    f = family("llama-3-8b")
    with pytest.raises(ValueError, match="at least 1"):
        memory.plan(f, "Q4_K_M", ctx_per_slot=0, parallel=1)
    with pytest.raises(ValueError, match="unknown KV cache type 'q3'"):
        memory.plan(f, "Q4_K_M", ctx_per_slot=512, parallel=1, kv_type="q3")
    with pytest.raises(ValueError, match="no published figures for quantization 'Q9'"):
        memory.plan(f, "Q9", ctx_per_slot=512, parallel=1)
    with pytest.raises(ValueError, match="unknown model family 'llama-9'"):
        family("llama-9")
