"""The seed tutorial's Part 2 ("Aggressive Quantization"), recomputed the way AWS bills: by the instance.

The tutorial prices a 13B model's quantization as GPU memory saved x $0.10 per GB-hour x 730 hours.
AWS sells whole instances, so the real saving of Q4_K_M over F16 is that the model fits a cheaper
instance (or serves more tokens on the same one). This runs both through the advisor (fit, cheapest
instance, price per million tokens) and checks the tutorial's own arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infra.advisor.advice import advise
from infra.advisor.families import family
from infra.advisor.rank import Option

HOURS_PER_MONTH = Decimal(730)
# The tutorial's own inputs and its printed result, quoted so that its arithmetic can be checked.
TUTORIAL_MODEL_GB = Decimal(26)
TUTORIAL_SIZE_REDUCTION = Decimal("0.28")
TUTORIAL_USD_PER_GB_HOUR = Decimal("0.10")
TUTORIAL_PRINTED = Decimal("1314.00")


@dataclass(frozen=True)
class Side:
    quant: str
    total_bytes: int
    cheapest_single_gpu: Option | None
    cheapest_any: Option | None
    fitting_types: list[str]


@dataclass(frozen=True)
class Part2:
    family: str
    ctx: int
    parallel: int
    f16: Side
    q4: Side
    monthly_difference: Decimal | None
    tutorial_formula: Decimal
    tutorial_printed: Decimal
    lines: list[str]

    def to_dict(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            o = s.cheapest_any
            return {
                "quant": s.quant,
                "total_bytes": s.total_bytes,
                "cheapest_instance_type": None if o is None else o.instance.name,
                "layout": None if o is None else o.verdict.layout,
                "on_demand_hourly": None
                if o is None or o.instance.on_demand_hourly is None
                else str(o.instance.on_demand_hourly),
                "monthly_on_demand": None if o is None else str(_monthly(o)),
                "usd_per_million_output_tokens_on_demand": None
                if o is None or o.on_demand_per_million is None
                else str(o.on_demand_per_million),
                "fitting_instance_types": s.fitting_types,
            }

        return {
            "family": self.family,
            "ctx_per_slot": self.ctx,
            "parallel": self.parallel,
            "F16": side(self.f16),
            "Q4_K_M": side(self.q4),
            "monthly_difference": None if self.monthly_difference is None else str(self.monthly_difference),
            "tutorial": {"formula_result": str(self.tutorial_formula), "printed": str(self.tutorial_printed)},
            "lines": self.lines,
        }


def _monthly(o: Option) -> Decimal:
    if o.instance.on_demand_hourly is None:
        raise ValueError(f"{o.instance.name} has no on-demand price in the catalog")
    return (o.instance.on_demand_hourly * HOURS_PER_MONTH).quantize(Decimal("0.01"))


def _side(name: str, ctx: int, parallel: int, quant: str) -> Side:
    a = advise(family(name), ctx_per_slot=ctx, parallel=parallel, quants=[quant])
    priced = [o for o in a.options if o.instance.on_demand_hourly is not None]
    by_hourly = sorted(priced, key=lambda o: (o.instance.on_demand_hourly, o.instance.name))
    single = [o for o in by_hourly if o.verdict.gpus_per_server == 1]
    return Side(
        quant=a.plans[0].quant,
        total_bytes=a.plans[0].total_bytes,
        cheapest_single_gpu=single[0] if single else None,
        cheapest_any=by_hourly[0] if by_hourly else None,
        fitting_types=sorted(o.instance.name for o in a.options),
    )


def part2(name: str = "llama-2-13b", ctx: int = 4096, parallel: int = 1) -> Part2:
    f16, q4 = _side(name, ctx, parallel, "F16"), _side(name, ctx, parallel, "Q4_K_M")
    saved_gb = TUTORIAL_MODEL_GB * (1 - TUTORIAL_SIZE_REDUCTION)
    formula = (saved_gb * TUTORIAL_USD_PER_GB_HOUR * HOURS_PER_MONTH).quantize(Decimal("0.01"))
    printed_gb = TUTORIAL_PRINTED / (TUTORIAL_USD_PER_GB_HOUR * HOURS_PER_MONTH)
    diff = None
    lines = [
        f"Part 2: {name} at F16 vs Q4_K_M, one server with {parallel} slot(s) of {ctx} tokens, on-demand, "
        "730-hour month"
    ]
    for s in (f16, q4):
        o = s.cheapest_any
        if o is None:
            lines.append(
                f"  {s.quant}: needs {s.total_bytes / 1e9:.2f} GB; no GPU instance type in the catalog holds it"
            )
            continue
        per_m = o.on_demand_per_million
        lines.append(
            f"  {s.quant}: needs {s.total_bytes / 1e9:.2f} GB; cheapest fit {o.instance.name} "
            f"({o.instance.gpu_count}x {o.instance.gpu_model.upper()}, {o.verdict.layout}) at "
            f"${o.instance.on_demand_hourly}/h = ${_monthly(o):,.2f}/month"
            + ("" if per_m is None else f"; ${per_m}/million output tokens (scaled estimate)")
            + f"; {len(s.fitting_types)} instance types fit"
        )
    if f16.cheapest_any is not None and q4.cheapest_any is not None:
        diff = _monthly(f16.cheapest_any) - _monthly(q4.cheapest_any)
        lines.append(f"  monthly difference: ${diff:,.2f} (F16's cheapest instance minus Q4_K_M's)")
    lines += [
        f"  note: the tutorial bills GPU memory at ${TUTORIAL_USD_PER_GB_HOUR}/GB-hour, which is not how AWS "
        "bills: an instance costs the same whatever fraction of its GPU memory the model uses",
        f"  note: its own formula gives {TUTORIAL_MODEL_GB} GB x (1 - {TUTORIAL_SIZE_REDUCTION}) = {saved_gb} GB saved "
        f"x ${TUTORIAL_USD_PER_GB_HOUR} x 730 h = ${formula:,.2f}/month, but it prints ${TUTORIAL_PRINTED:,.2f}, "
        f"which is {printed_gb:.0f} GB saved; and its 'size_reduction' 0.28 is the share kept, not the share removed",
    ]
    return Part2(name, ctx, parallel, f16, q4, diff, formula, TUTORIAL_PRINTED, lines)
