"""Read a GGUF file's own metadata with the `gguf` library (llama.cpp's reader): shape, size, quantization.

Only the header and the tensor table are read (the reader memory-maps the file; tensor data is never
touched), so a multi-gigabyte model is read in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.advisor.facts import ModelFacts, repeat

# llama.cpp hard-codes the sliding-window layout of some architectures instead of storing it in the
# file: `hparams.set_swa_pattern(n)` in src/llama-model.cpp makes n-1 of every n layers slide and the
# n-th attend to the full context. These are the values it sets (ggml-org/llama.cpp, 2025-2026).
SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma-embedding": 6, "gemma3n": 5, "cohere2": 4, "llama4": 4}


class GgufError(ValueError):
    """The file is not a GGUF model the advisor can read; the message says what is missing."""


def _value(fields: dict[str, Any], key: str) -> Any:
    field = fields.get(key)
    return None if field is None else field.contents()


def _required(fields: dict[str, Any], key: str, path: Path) -> Any:
    value = _value(fields, key)
    if value is None:
        raise GgufError(f"{path}: GGUF metadata has no {key!r}; is this a language model converted by llama.cpp?")
    return value


def _per_layer(value: Any, layers: int) -> tuple[int, ...]:
    if isinstance(value, list):
        if len(value) != layers:
            raise GgufError(f"per-layer value has {len(value)} entries for {layers} layers")
        return tuple(int(v) for v in value)
    return repeat(int(value), layers)


def _swa_layers(fields: dict[str, Any], arch: str, layers: int) -> tuple[bool, ...]:
    window = _value(fields, f"{arch}.attention.sliding_window")
    if not window:
        return ()
    pattern = _value(fields, f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list):
        return tuple(bool(v) for v in pattern)
    n = int(pattern) if pattern else SWA_PATTERN.get(arch)
    if not n:
        # Unknown layout: treat every layer as full context, which over-estimates the KV cache (safe).
        return ()
    return tuple(i % n < n - 1 for i in range(layers))


def read_gguf(path: Path) -> ModelFacts:
    """Model facts from a GGUF file. Raises GgufError (a ValueError) with the fix when it cannot."""
    import gguf  # imported here: `frugal advise --family` and the ranking never need it

    path = Path(path)
    if not path.is_file():
        raise GgufError(f"{path} does not exist or is not a file; pass the path of a .gguf model")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise GgufError(f"{path} is not a readable GGUF file ({exc}); check that the download is complete") from exc
    fields = reader.fields
    arch = str(_required(fields, "general.architecture", path))
    layers = int(_required(fields, f"{arch}.block_count", path))
    heads_raw = _required(fields, f"{arch}.attention.head_count", path)
    heads = max(_per_layer(heads_raw, layers))
    kv_raw = _value(fields, f"{arch}.attention.head_count_kv")
    kv_heads = _per_layer(kv_raw if kv_raw is not None else heads_raw, layers)
    n_embd = int(_required(fields, f"{arch}.embedding_length", path))
    head_k = _value(fields, f"{arch}.attention.key_length")
    head_v = _value(fields, f"{arch}.attention.value_length")
    head_k = int(head_k) if head_k else n_embd // heads
    head_v = int(head_v) if head_v else head_k
    tensors = list(reader.tensors)
    tensor_bytes = sum(int(t.n_bytes) for t in tensors)
    embd = [t for t in tensors if t.name == "token_embd.weight"]
    vocab = _value(fields, f"{arch}.vocab_size")
    if not vocab:
        tokens = fields.get("tokenizer.ggml.tokens")
        vocab = len(tokens.data) if tokens is not None else (int(embd[0].shape[-1]) if embd else 0)
    file_type = _value(fields, "general.file_type")
    return ModelFacts(
        name=str(_value(fields, "general.name") or path.stem),
        architecture=arch,
        parameters=sum(int(t.n_elements) for t in tensors),
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim_k=head_k,
        head_dim_v=head_v,
        embedding_length=n_embd,
        vocab_size=int(vocab),
        trained_context=int(_value(fields, f"{arch}.context_length") or 0),
        source=f"GGUF metadata of {path}",
        file_type=_file_type_name(gguf, file_type),
        file_bytes=path.stat().st_size,
        tensor_bytes=tensor_bytes,
        token_embd_bytes=int(embd[0].n_bytes) if embd else None,
        sliding_window=int(_value(fields, f"{arch}.attention.sliding_window") or 0) or None,
        swa_layers=_swa_layers(fields, arch, layers),
    )


def _file_type_name(gguf: Any, value: Any) -> str | None:
    """'MOSTLY_Q4_K_M' -> 'Q4_K_M', 'ALL_F32' -> 'F32'; None when the file does not say."""
    if value is None:
        return None
    try:
        name = str(gguf.LlamaFileType(int(value)).name)
    except ValueError:
        return f"file_type {value}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")
