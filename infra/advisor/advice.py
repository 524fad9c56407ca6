"""One piece of advice: a model, a quality bound and a concurrency -> memory plans and ranked instance types.

`advise()` gathers everything; `advice_dict()` turns it into the versioned JSON document
`frugal.advice/v1` (infra/advisor/advice.schema.json describes every field; docs/advisor.md explains them).
Money is a decimal string (exact) and null when unknown; additive changes keep the version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infra.advisor import memory
from infra.advisor.facts import ModelFacts
from infra.advisor.gpus import GpuInstance, usable
from infra.advisor.measured import load_speed
from infra.advisor.memory import MemoryPlan
from infra.advisor.quality import Quality, canonical, quality, within
from infra.advisor.rank import Option, rank
from infra.advisor.speed import proxies
from infra.catalog import load_catalog

SCHEMA = "frugal.advice/v1"

METHOD = {
    "measured": "single-stream and parallel decode tokens/s of llama.cpp on one NVIDIA H200 for a Llama-3-8B-shaped "
    "model at Q4_K, Q8_0 and F16 (the 'speed_source' below)",
    "scaled": "tokens/s on every other GPU and model: the measured run's single-stream speed scaled to this GPU's "
    "bandwidth and this model's bytes per token, as a range (low: same fraction of the bandwidth bound as measured; "
    "high: this GPU's memory time plus the measured kernel time per byte; central: their geometric mean), times the "
    "batching gain measured at this many parallel sequences",
    "published": "bits per weight and quality loss (KL divergence, perplexity increase) from llama.cpp's READMEs, "
    "with the model each was measured on; GPU bandwidth from NVIDIA datasheets; prices from the catalog",
    "computed": "weights, KV cache and margin bytes; fit; price per million output tokens with every slot busy",
}


@dataclass(frozen=True)
class Advice:
    facts: ModelFacts
    ctx_per_slot: int
    parallel: int
    kv_type: str
    max_kld: float | None
    plans: list[MemoryPlan]
    qualities: dict[str, Quality]
    options: list[Option]
    too_small: list[Option]
    unusable: dict[str, str]
    excluded_quants: dict[str, str]
    notes: list[str] = field(default_factory=list)


def advise(
    facts: ModelFacts,
    *,
    ctx_per_slot: int,
    parallel: int,
    quants: list[str] | None = None,
    kv_type: str = "f16",
    max_kld: float | None = None,
    instances: list[GpuInstance] | None = None,
) -> Advice:
    """Plans for each quantization within the bound and every usable GPU type ranked by price per token.

    Without `quants`, a file is advised at its own type and a family at every published type within
    `max_kld`. A named type above the bound is a ValueError (the user asked for two things that conflict).
    """
    if max_kld is not None and max_kld < 0:
        raise ValueError(f"--max-kld {max_kld} is negative; KL divergence is 0 for identical outputs and grows")
    excluded: dict[str, str] = {}
    if quants:
        chosen = [canonical(q) for q in quants]
    elif facts.file_type is not None:
        chosen = [facts.file_type]
    else:
        allowed = within(facts, max_kld)
        chosen = allowed
        for q in within(facts, None):
            if q not in allowed:
                k = quality(facts, q).kld
                excluded[q] = f"KL divergence {k.value} on {k.measured_on} > --max-kld {max_kld}" if k else "no figure"
    qualities = {q: quality(facts, q) for q in chosen if _has_quality(q)}
    if max_kld is not None:
        for q in chosen:
            k = qualities[q].kld if q in qualities else None
            if k is None:
                raise ValueError(f"{q} has no published KL divergence, so --max-kld cannot be checked; drop --max-kld")
            if k.value > max_kld:
                raise ValueError(
                    f"{q}'s published KL divergence is {k.value} (on {k.measured_on}), above --max-kld {max_kld}; "
                    f"types within it: {', '.join(within(facts, max_kld)) or 'none'}"
                )
    if not chosen:
        raise ValueError(f"no quantization has a published KL divergence within --max-kld {max_kld}")
    plans = [memory.plan(facts, q, ctx_per_slot, parallel, kv_type) for q in chosen]
    if instances is None:
        instances, unusable = usable()
    else:
        unusable = {}
    options, too_small = rank(plans, instances)
    notes = []
    if facts.trained_context and ctx_per_slot > facts.trained_context:
        notes.append(
            f"--ctx {ctx_per_slot} is longer than the {facts.trained_context} tokens the model was trained on; "
            "quality beyond it is not covered by these figures"
        )
    speed = load_speed()
    measured = speed.get("Q4_K", True)
    if measured is not None and parallel > max(measured.aggregate_tps):
        notes.append(f"--parallel {parallel} is beyond the measured 128 sequences; the batching gain is held at 128's")
    for p in plans:
        single, _ = proxies(p.quant, speed)
        ratio = p.bytes_per_token / single.bytes_per_token
        if not 0.25 <= ratio <= 4:
            notes.append(
                f"{p.quant}: this model reads {ratio:.2g}x the bytes per token of the measured 8B model; the speed "
                "scaling is least reliable this far from it (a small model's tokens are bound by kernel launches, "
                "not bytes, so its tok/s are over-estimated; a large model's high end is under-estimated)"
            )
    return Advice(
        facts, ctx_per_slot, parallel, memory.kv_type_name(kv_type), max_kld, plans, qualities, options, too_small,
        unusable, excluded, notes,
    )  # fmt: skip


def _has_quality(quant: str) -> bool:
    try:
        canonical(quant)
    except ValueError:
        return False
    return True


def _money(value: Decimal | None, places: str = "0.0001") -> str | None:
    return None if value is None else str(value.quantize(Decimal(places)))


def _figure(q: Quality | None, kind: str) -> dict[str, Any] | None:
    fig = None if q is None else getattr(q, kind)
    return None if fig is None else {"value": fig.value, "measured_on": fig.measured_on, "source": fig.source}


def _model_dict(f: ModelFacts) -> dict[str, Any]:
    kv = f.kv_heads[0] if len(set(f.kv_heads)) == 1 else list(f.kv_heads)
    return {
        "name": f.name,
        "source": f.source,
        "architecture": f.architecture,
        "parameters": f.parameters,
        "layers": f.layers,
        "heads": f.heads,
        "kv_heads": kv,
        "head_dim_k": f.head_dim_k,
        "head_dim_v": f.head_dim_v,
        "embedding_length": f.embedding_length,
        "vocab_size": f.vocab_size,
        "trained_context": f.trained_context,
        "file_type": f.file_type,
        "file_bytes": f.file_bytes,
        "sliding_window": f.sliding_window,
        "sliding_window_layers": sum(f.swa_layers),
    }


def _plan_dict(p: MemoryPlan, q: Quality | None) -> dict[str, Any]:
    return {
        "quant": p.quant,
        "kld": _figure(q, "kld"),
        "delta_ppl": _figure(q, "delta_ppl"),
        "memory": {
            "weights_bytes": p.weights_bytes,
            "weights_basis": p.weights_basis,
            "bytes_read_per_token": p.bytes_per_token,
            "kv_cache_bytes": p.kv.bytes,
            "kv_cells": p.kv.cells_full,
            "kv_cells_sliding_window": p.kv.cells_swa,
            "compute_buffer_bytes": p.compute_bytes,
            "cuda_overhead_bytes": p.overhead_bytes,
            "total_bytes": p.total_bytes,
        },
        "llama_server": {
            "ctx_size": p.server_ctx_size,
            "parallel": p.parallel,
            "cache_type_k": p.kv_type,
            "cache_type_v": p.kv_type,
        },
    }


def _option_dict(rank_no: int, o: Option) -> dict[str, Any]:
    i, v, s = o.instance, o.verdict, o.speed
    od_lo, od_hi = o.range_per_million(i.on_demand_hourly)
    sp_lo, sp_hi = o.range_per_million(i.spot_hourly)
    return {
        "rank": rank_no,
        "quant": o.plan.quant,
        "instance_type": i.name,
        "gpu": {
            "model": i.gpu_model,
            "count": i.gpu_count,
            "memory_bytes": i.memory_bytes_per_gpu,
            "bandwidth_gb_s": None if i.bandwidth_bytes_s is None else round(i.bandwidth_bytes_s / 1e9, 3),
        },
        "layout": v.layout,
        "gpus_per_server": v.gpus_per_server,
        "servers": v.servers,
        "need_bytes_per_gpu": v.need_bytes_per_gpu,
        "on_demand_hourly": _money(i.on_demand_hourly, "0.000001"),
        "spot_hourly": _money(i.spot_hourly, "0.000001"),
        "spot_saving_pct": i.spot_saving_pct,
        "interruption_band": i.interruption_band,
        "tokens_per_s": None
        if s is None
        else {
            "instance": round(s.aggregate_central * v.servers, 1),
            "per_server": {
                "low": round(s.aggregate_low, 1),
                "central": round(s.aggregate_central, 1),
                "high": round(s.aggregate_high, 1),
            },
            "single_stream": {
                "low": round(s.single_low, 1),
                "central": round(s.single_central, 1),
                "high": round(s.single_high, 1),
                "bandwidth_bound": round(s.bound_tps, 1),
            },
            "batching_gain": round(s.gain, 3),
            "single_stream_proxy": s.single_proxy,
            "batching_proxy": s.gain_proxy,
        },
        "usd_per_million_output_tokens": {
            "on_demand": _money(o.on_demand_per_million),
            "on_demand_range": [_money(od_lo), _money(od_hi)],
            "spot": _money(o.spot_per_million),
            "spot_range": [_money(sp_lo), _money(sp_hi)],
        },
    }


def advice_dict(a: Advice) -> dict[str, Any]:
    catalog = load_catalog()
    speed = load_speed()
    return {
        "schema": SCHEMA,
        "model": _model_dict(a.facts),
        "request": {
            "ctx_per_slot": a.ctx_per_slot,
            "parallel": a.parallel,
            "kv_type": a.kv_type,
            "max_kld": a.max_kld,
            "quants": [p.quant for p in a.plans],
        },
        "quantizations": [_plan_dict(p, a.qualities.get(p.quant)) for p in a.plans],
        "excluded_quantizations": a.excluded_quants,
        "options": [_option_dict(n, o) for n, o in enumerate(a.options, 1)],
        "does_not_fit": [
            {"quant": o.plan.quant, "instance_type": o.instance.name, "reason": o.verdict.reason} for o in a.too_small
        ],
        "unusable_instance_types": a.unusable,
        "method": {
            **METHOD,
            "speed_source": f"{speed.source} ({speed.gpu}, {speed.as_of})",
            "region": catalog.region,
            "prices": catalog.sources,
        },
        "notes": a.notes,
    }
