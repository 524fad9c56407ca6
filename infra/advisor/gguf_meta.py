"""A GGUF file's own metadata as the advisor's model facts: shape, size, quantization.

The header is read by infra/gguf_file.py (metadata and tensor table; the tensor data is never read),
so a multi-gigabyte model is read in a fraction of a second. `facts_from_gguf` is the arithmetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gguf.constants import Keys, LlamaFileType

from infra.advisor.facts import ModelFacts, repeat
from infra.gguf_file import GgufError, GgufFile, read_gguf_file

__all__ = ["SWA_PATTERN", "GgufError", "facts_from_gguf", "read_gguf"]

# llama.cpp hard-codes the sliding-window layout of some architectures instead of storing it in the
# file: `hparams.set_swa_pattern(n)` in src/llama-model.cpp makes n-1 of every n layers slide and the
# n-th attend to the full context. These are the values it sets (ggml-org/llama.cpp, 2025-2026).
SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma-embedding": 6, "gemma3n": 5, "cohere2": 4, "llama4": 4}


def _required(meta: GgufFile, template: str) -> Any:
    value = meta.arch_value(template)
    if value is None:
        key = template.format(arch=meta.architecture)
        raise GgufError(f"{meta.path}: GGUF metadata has no {key!r}; is this a language model converted by llama.cpp?")
    return value


def _per_layer(value: Any, layers: int) -> tuple[int, ...]:
    if isinstance(value, list):
        if len(value) != layers:
            raise GgufError(f"per-layer value has {len(value)} entries for {layers} layers")
        return tuple(int(v) for v in value)
    return repeat(int(value), layers)


def _swa_layers(meta: GgufFile, arch: str, layers: int) -> tuple[bool, ...]:
    if not meta.arch_value(Keys.Attention.SLIDING_WINDOW):
        return ()
    pattern = meta.arch_value(Keys.Attention.SLIDING_WINDOW_PATTERN)
    if isinstance(pattern, list):
        return tuple(bool(v) for v in pattern)
    n = int(pattern) if pattern else SWA_PATTERN.get(arch)
    if not n:
        # Unknown layout: treat every layer as full context, which over-estimates the KV cache (safe).
        return ()
    return tuple(i % n < n - 1 for i in range(layers))


def read_gguf(path: Path) -> ModelFacts:
    """Model facts from a GGUF file. Raises GgufError (a ValueError) with the fix when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise GgufError(f"{path} does not exist or is not a file; pass the path of a .gguf model")
    try:
        meta = read_gguf_file(path, tensors=True)
    except GgufError as exc:
        raise GgufError(f"not a readable GGUF file: {exc}") from exc
    except OSError as exc:
        raise GgufError(f"{path} is not a readable GGUF file ({exc}); check the file's permissions") from exc
    return facts_from_gguf(meta, file_bytes=path.stat().st_size)


def facts_from_gguf(meta: GgufFile, file_bytes: int | None = None) -> ModelFacts:
    """Model facts from a header read with its tensor table (`read_gguf_file(path, tensors=True)`)."""
    arch = meta.architecture
    if arch is None:
        raise GgufError(
            f"{meta.path}: GGUF metadata has no 'general.architecture'; "
            "is this a language model converted by llama.cpp?"
        )
    if meta.tensors is None:
        raise ValueError("facts_from_gguf needs the tensor table: read_gguf_file(path, tensors=True)")
    layers = int(_required(meta, Keys.LLM.BLOCK_COUNT))
    heads_raw = _required(meta, Keys.Attention.HEAD_COUNT)
    heads = max(_per_layer(heads_raw, layers))
    kv_raw = meta.arch_value(Keys.Attention.HEAD_COUNT_KV)
    kv_heads = _per_layer(kv_raw if kv_raw is not None else heads_raw, layers)
    n_embd = int(_required(meta, Keys.LLM.EMBEDDING_LENGTH))
    head_k = meta.arch_value(Keys.Attention.KEY_LENGTH)
    head_v = meta.arch_value(Keys.Attention.VALUE_LENGTH)
    head_k = int(head_k) if head_k else n_embd // heads
    head_v = int(head_v) if head_v else head_k
    tensors = meta.tensors
    embd = [t for t in tensors if t.name == "token_embd.weight"]
    vocab = meta.arch_value(Keys.LLM.VOCAB_SIZE)
    if not vocab:
        tokens = meta.metadata.get(Keys.Tokenizer.LIST)
        vocab = len(tokens) if isinstance(tokens, list) else (int(embd[0].shape[-1]) if embd else 0)
    return ModelFacts(
        name=str(meta.metadata.get(Keys.General.NAME) or meta.path.stem),
        architecture=arch,
        parameters=sum(t.n_elements for t in tensors),
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim_k=head_k,
        head_dim_v=head_v,
        embedding_length=n_embd,
        vocab_size=int(vocab),
        trained_context=int(meta.arch_value(Keys.LLM.CONTEXT_LENGTH) or 0),
        source=f"GGUF metadata of {meta.path}",
        file_type=_file_type_name(meta.metadata.get(Keys.General.FILE_TYPE)),
        file_bytes=file_bytes,
        tensor_bytes=sum(t.n_bytes for t in tensors),
        token_embd_bytes=embd[0].n_bytes if embd else None,
        sliding_window=int(meta.arch_value(Keys.Attention.SLIDING_WINDOW) or 0) or None,
        swa_layers=_swa_layers(meta, arch, layers),
    )


def _file_type_name(value: Any) -> str | None:
    """'MOSTLY_Q4_K_M' -> 'Q4_K_M', 'ALL_F32' -> 'F32'; None when the file does not say."""
    if value is None:
        return None
    try:
        name = str(LlamaFileType(int(value)).name)
    except ValueError:
        return f"file_type {value}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")
