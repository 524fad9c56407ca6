"""Model facts from GGUF files: synthetic ones written with the gguf library, and the embedded small model."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.advisor.gguf_meta import GgufError, read_gguf
from tests.advisor.conftest import write_gguf


def test_a_synthetic_llama_file_reads_back_its_shape_size_and_quantization(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", layers=3, n_embd=64, heads=4, kv_heads=2, vocab=40, ctx=4096)
    f = read_gguf(path)
    assert (f.architecture, f.layers, f.heads, f.kv_heads) == ("llama", 3, 4, (2, 2, 2)), "shape from metadata"
    assert (f.head_dim_k, f.head_dim_v) == (16, 16), "head dimension defaults to embedding / heads"
    assert f.trained_context == 4096 and f.vocab_size == 40, "context and vocabulary from metadata"
    assert f.file_type == "Q4_K_M", "general.file_type 15 is llama.cpp's MOSTLY_Q4_K_M"
    expected_params = 40 * 64 + 3 * (64 * 64 * 2 + 2 * 32 * 64 + 64) + 64
    assert f.parameters == expected_params, f"parameters are the tensors' elements ({f.parameters})"
    assert f.tensor_bytes is not None and f.file_bytes is not None, "sizes are read"
    assert f.tensor_bytes == (40 * 64 + 3 * (64 * 64 * 2 + 2 * 32 * 64)) * 2 + (3 * 64 + 64) * 4, (
        "tensor bytes: F16 matrices at 2 bytes, F32 norms at 4"
    )
    assert f.tensor_bytes < f.file_bytes, "the file also holds the header and metadata"
    assert f.token_embd_bytes == 40 * 64 * 2, "the token-embedding table is measured separately"


def test_per_layer_kv_heads_and_an_explicit_key_length_are_read(tmp_path: Path) -> None:
    f = read_gguf(write_gguf(tmp_path / "m.gguf", layers=2, kv_heads=[1, 4], key_length=32))
    assert f.kv_heads == (1, 4), "per-layer KV head counts"
    assert f.head_dim_k == 32 and f.kv_elements_per_token == (1 + 4) * (32 + 32), "K and V lengths per head"


def test_a_gemma3_file_gets_llama_cpp_s_sliding_window_layout(tmp_path: Path) -> None:
    f = read_gguf(write_gguf(tmp_path / "g.gguf", arch="gemma3", layers=12, kv_heads=1, sliding_window=512))
    assert f.sliding_window == 512, "window from metadata"
    full = [i for i, swa in enumerate(f.swa_layers) if not swa]
    assert full == [5, 11], "gemma3: every sixth layer attends to the full context (set_swa_pattern(6))"


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(b"this is not a model" * 10)
    with pytest.raises(GgufError, match="not a readable GGUF file"):
        read_gguf(bad)
    with pytest.raises(GgufError, match="does not exist"):
        read_gguf(tmp_path / "missing.gguf")


def test_metadata_without_a_required_key_names_the_key(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "partial.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(GgufError, match=r"'llama\.attention\.head_count'"):
        read_gguf(path)


def test_the_embedded_small_model_reads_as_gemma3_270m_at_q4_k_m(small_model_path: Path) -> None:
    f = read_gguf(small_model_path)
    assert f.architecture == "gemma3" and f.layers == 18, f"Gemma 3 270M has 18 layers ({f.architecture}, {f.layers})"
    assert f.file_type == "Q4_K_M", f"the package ships Q4_K_M ({f.file_type})"
    assert 250e6 < f.parameters < 300e6, f"about 270 M parameters ({f.parameters:,})"
    assert f.kv_heads == (1,) * 18 and f.head_dim_k == 256, "one KV head of 256 per layer"
    assert sum(f.swa_layers) == 15 and f.sliding_window, "15 of 18 layers slide; 3 attend to everything"
    assert f.tensor_bytes is not None and f.file_bytes is not None and f.tensor_bytes < f.file_bytes, "sizes read"
