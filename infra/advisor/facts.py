"""What the advisor needs to know about a model: its shape, its size and where each figure came from.

Pure data. `ModelFacts` is filled either from a GGUF file's own metadata (`gguf_meta.read_gguf`) or from
a published configuration (`families.family`); `source` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelFacts:
    name: str
    architecture: str
    parameters: int
    layers: int
    heads: int
    kv_heads: tuple[int, ...]
    """KV heads per layer (llama.cpp allows them to differ; most models repeat one value)."""
    head_dim_k: int
    head_dim_v: int
    embedding_length: int
    vocab_size: int
    trained_context: int
    source: str
    file_type: str | None = None
    """The quantization of a real file (e.g. 'Q4_K_M'); None for a family without a file."""
    file_bytes: int | None = None
    tensor_bytes: int | None = None
    """Bytes of all tensors in the file: what llama.cpp loads as the model's weights."""
    token_embd_bytes: int | None = None
    """Bytes of the token-embedding table, which a decoded token reads one row of, not all."""
    sliding_window: int | None = None
    swa_layers: tuple[bool, ...] = field(default=())
    """Per layer: True where attention is a sliding window (its KV cache is capped), else full context."""

    def __post_init__(self) -> None:
        if len(self.kv_heads) != self.layers:
            raise ValueError(f"{self.name}: {len(self.kv_heads)} KV-head counts for {self.layers} layers")
        if self.swa_layers and len(self.swa_layers) != self.layers:
            raise ValueError(f"{self.name}: sliding-window flags for {len(self.swa_layers)} of {self.layers} layers")

    @property
    def kv_elements_per_token(self) -> int:
        """K plus V elements stored per token over all full-context layers and all sliding-window layers."""
        return sum(n * (self.head_dim_k + self.head_dim_v) for n in self.kv_heads)

    def kv_elements_per_token_split(self) -> tuple[int, int]:
        """(elements per token in full-context layers, in sliding-window layers)."""
        full = swa = 0
        for i, n in enumerate(self.kv_heads):
            per = n * (self.head_dim_k + self.head_dim_v)
            if self.swa_layers and self.swa_layers[i]:
                swa += per
            else:
                full += per
        return full, swa


def repeat(value: int, layers: int) -> tuple[int, ...]:
    return tuple([value] * layers)
