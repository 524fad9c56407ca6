"""The advice as a plain-text table (the JSON document is `advice.advice_dict`)."""

from __future__ import annotations

from decimal import Decimal

from infra.advisor.advice import Advice
from infra.advisor.measured import load_speed
from infra.advisor.rank import Option

GB = 10**9


def _usd(value: Decimal | None, places: int = 2) -> str:
    return "-" if value is None else f"${value:,.{places}f}"


def _gb(n: int) -> str:
    return f"{n / GB:.2f} GB"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _option_row(n: int, o: Option, kld: str) -> list[str]:
    lo, hi = o.range_per_million(o.instance.on_demand_hourly)
    tps = o.instance_tps
    return [
        str(n),
        o.plan.quant,
        kld,
        o.instance.name,
        f"{o.instance.gpu_count}x {o.instance.gpu_model.upper()}",
        o.verdict.layout,
        _usd(o.instance.on_demand_hourly, 3),
        _usd(o.instance.spot_hourly, 3),
        "-" if tps is None else f"{tps:,.0f}",
        _usd(o.on_demand_per_million, 3),
        "-" if lo is None else f"{_usd(lo, 3)}-{_usd(hi, 3)}",
        _usd(o.spot_per_million, 3),
    ]


def render_table(a: Advice, top: int = 15) -> str:
    f = a.facts
    lines = [
        f"Model: {f.name} ({f.architecture}, {f.parameters / 1e9:.2f} B parameters, {f.layers} layers, "
        f"{f.heads} heads, {max(f.kv_heads)} KV heads x {f.head_dim_k}, trained context {f.trained_context})",
        f"  source: {f.source}",
        f"Serving: {a.parallel} parallel slots x {a.ctx_per_slot} tokens each; KV cache {a.kv_type}"
        + (f"; quality bound: KL divergence <= {a.max_kld}" if a.max_kld is not None else ""),
        "",
        "Memory per server (weights + KV cache + margin = total; llama-server flags)",
    ]
    rows = [["quant", "KLD (measured on)", "weights", "KV cache", "margin", "total", "llama-server"]]
    for p in a.plans:
        q = a.qualities.get(p.quant)
        kld = "-" if q is None or q.kld is None else f"{q.kld.value} ({q.kld.measured_on})"
        flags = f"--ctx-size {p.server_ctx_size} --parallel {p.parallel}"
        if p.kv_type != "f16":
            flags += f" -ctk {p.kv_type} -ctv {p.kv_type}"
        rows.append([p.quant, kld, _gb(p.weights_bytes), _gb(p.kv.bytes), _gb(p.margin_bytes), _gb(p.total_bytes),
                     flags])  # fmt: skip
    lines += _table(rows, {2, 3, 4, 5})
    for p in a.plans:
        lines.append(f"  {p.quant} weights: {p.weights_basis}")
    if a.excluded_quants:
        lines.append("  excluded: " + "; ".join(f"{q} ({why})" for q, why in a.excluded_quants.items()))
    lines += ["", f"Instance types that fit, ranked by on-demand $ per million output tokens (top {top} of "
              f"{len(a.options)}; single-GPU servers first, every slot busy)"]  # fmt: skip
    header = ["#", "quant", "KLD", "instance", "GPUs", "layout", "$/h OD", "$/h spot", "tok/s", "$/Mtok OD",
              "OD range", "$/Mtok spot"]  # fmt: skip
    rows = [header]
    for n, o in enumerate(a.options[:top], 1):
        q = a.qualities.get(o.plan.quant)
        rows.append(_option_row(n, o, "-" if q is None or q.kld is None else str(q.kld.value)))
    if len(rows) == 1:
        lines.append("  none: no GPU instance type in the catalog holds this plan; try a smaller quantization, "
                     "fewer slots or a shorter context")  # fmt: skip
    else:
        lines += _table(rows, {0, 6, 7, 8, 9, 10, 11})
    for p in a.plans:
        unfit = sorted(o.instance.name for o in a.too_small if o.plan.quant == p.quant)
        if unfit:
            lines.append(f"Too small for {p.quant}: {', '.join(unfit)}")
    speed = load_speed()
    lines += [
        "",
        "What is measured and what is scaled:",
        f"  measured: llama.cpp decode speed on one {speed.gpu} ({speed.as_of}) for a Llama-3-8B-shaped model at "
        "Q4_K, Q8_0 and F16, one stream and 1-128 parallel sequences",
        "  scaled: every tok/s above. One stream = the measured run scaled to this GPU's datasheet bandwidth and "
        "this model's bytes per token; the range spans two scalings (same fraction of the bandwidth bound; or this "
        "GPU's memory time + the measured kernel time), tok/s is their geometric mean; x the batching gain measured "
        "at this many sequences",
        "  published: bits per weight and KL divergence (llama.cpp READMEs, measured on the model named), GPU "
        "bandwidth (NVIDIA datasheets), prices (catalog: on-demand "
        "and Spot Instance Advisor saving, with their dates in --json)",
    ]
    lines += [f"Note: {n}" for n in a.notes]
    return "\n".join(lines) + "\n"
