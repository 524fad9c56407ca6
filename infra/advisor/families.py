"""Model families known without a file: published shapes (infra/data/model-shapes.json), with their source.

The parameter count is computed from the shape (token embedding, output matrix unless tied, and per
layer: Q/K/V/O projections, a gated FFN of three matrices, two norms; plus the final norm). For
Llama-3-8B this gives 8,030,261,248, the count llama.cpp reports for the real tensors.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from infra.advisor.facts import ModelFacts, repeat

SHAPES_PATH = Path(__file__).resolve().parent.parent / "data" / "model-shapes.json"


@lru_cache(maxsize=2)
def _shapes(path: Path = SHAPES_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def names() -> list[str]:
    return sorted(_shapes()["families"])


def parameter_count(shape: dict[str, Any]) -> int:
    d, layers, ffn, vocab = shape["embedding_length"], shape["layers"], shape["ffn_length"], shape["vocab_size"]
    q_dim = shape["heads"] * shape["head_dim"]
    kv_dim = shape["kv_heads"] * shape["head_dim"]
    attention = d * q_dim + 2 * d * kv_dim + q_dim * d
    per_layer = attention + 3 * d * ffn + 2 * d
    embeddings = vocab * d * (1 if shape["tied_embeddings"] else 2)
    return int(embeddings + layers * per_layer + d)


def family(name: str) -> ModelFacts:
    """The facts of a known family ('llama-3-8b', case-insensitive). ValueError lists the known names."""
    key = name.strip().lower()
    families = _shapes()["families"]
    if key not in families:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(names())} (or pass --model PATH.gguf)")
    s = families[key]
    return ModelFacts(
        name=key,
        architecture=s["architecture"],
        parameters=parameter_count(s),
        layers=s["layers"],
        heads=s["heads"],
        kv_heads=repeat(s["kv_heads"], s["layers"]),
        head_dim_k=s["head_dim"],
        head_dim_v=s["head_dim"],
        embedding_length=s["embedding_length"],
        vocab_size=s["vocab_size"],
        trained_context=s["trained_context"],
        source=f"{s['source']} ({s['as_of']})",
    )
