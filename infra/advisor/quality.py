"""Published quantization figures (infra/data/gguf-quants.json): bits per weight and quality lost vs F16.

Each answer names the model its figure was measured on: llama.cpp publishes KL divergence for
Llama-3-8B (all types) and Llama-2-7B (some types). A model of another family gets the figure of the
closest published model, and says so; quality loss is larger for small models and for Llama-3 than
Llama-2 (Llama-3-8B loses more at Q4_K_M than Llama-2-7B), so the Llama-3-8B figure is the cautious default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from infra.advisor.facts import ModelFacts

QUANTS_PATH = Path(__file__).resolve().parent.parent / "data" / "gguf-quants.json"
CAUTIOUS = "llama-3-8b"


@dataclass(frozen=True)
class Figure:
    value: float
    measured_on: str
    source: str


@dataclass(frozen=True)
class Quality:
    quant: str
    kld: Figure | None
    delta_ppl: Figure | None


@lru_cache(maxsize=2)
def load_quants(path: Path = QUANTS_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def known_quants() -> list[str]:
    return list(load_quants()["types"])


def canonical(quant: str) -> str:
    """'q4_k_m' -> 'Q4_K_M'. ValueError (with the list) for a type without published figures."""
    key = quant.strip().upper()
    if key not in load_quants()["types"]:
        raise ValueError(f"no published figures for quantization {quant!r}; known: {', '.join(known_quants())}")
    return key


def _preference(facts: ModelFacts, column: dict[str, float]) -> list[str]:
    """Published columns to use, best first: the model itself, its own family by size, then the cautious one."""
    if facts.name in column:
        return [facts.name]
    same_family = [k for k in column if k.rsplit("-", 1)[0] == facts.name.rsplit("-", 1)[0]]
    same_family.sort(key=lambda k: abs(_size_b(k) - facts.parameters / 1e9))
    rest = [CAUTIOUS] + sorted(k for k in column if k not in same_family and k != CAUTIOUS)
    return [k for k in same_family + rest if k in column]


def _size_b(key: str) -> float:
    tail = key.rsplit("-", 1)[-1].rstrip("b")
    try:
        return float(tail)
    except ValueError:
        return 0.0


def _figure(facts: ModelFacts, quant: str, kind: str, sources_by_model: str) -> Figure | None:
    data = load_quants()
    column: dict[str, float] = data["types"][quant].get(kind, {})
    order = _preference(facts, column)
    if not order:
        return None
    model = order[0]
    src = data["sources"][data[sources_by_model][model]]
    return Figure(column[model], model, f"{src['source']} ({src['as_of']})")


def bits_per_weight(facts: ModelFacts, quant: str) -> Figure:
    quant = canonical(quant)
    fig = _figure(facts, quant, "bpw", "bpw_source_by_model")
    if fig is None:  # every type in the file has a bpw; a malformed edit of the data file lands here
        raise ValueError(f"infra/data/gguf-quants.json has no bits per weight for {quant}")
    return fig


def quality(facts: ModelFacts, quant: str) -> Quality:
    quant = canonical(quant)
    return Quality(
        quant,
        _figure(facts, quant, "kld", "quality_source_by_model"),
        _figure(facts, quant, "delta_ppl", "quality_source_by_model"),
    )


def within(facts: ModelFacts, max_kld: float | None) -> list[str]:
    """Quantization types whose published KL divergence is at most `max_kld` (all types when None)."""
    out = []
    for quant in known_quants():
        q = quality(facts, quant)
        if max_kld is None or (q.kld is not None and q.kld.value <= max_kld):
            out.append(quant)
    return out
