"""Does a memory plan fit an instance type, and which fitting types serve a million tokens cheapest.

Fit. One llama-server uses the fewest GPUs of the instance that hold its plan; with n GPUs the
layers (and their KV cache) are split evenly, so each GPU holds ceil(layers / n) / layers of weights
and cache, plus the whole runtime margin. An instance with more GPUs than one server needs runs
several servers (replicas), each with its own slots.

Price per million output tokens = hourly price / (tokens per second of the instance x 3,600) x 10^6,
with every slot of every server busy. Spot prices are on-demand x (1 - the Spot Instance Advisor's
30-day average saving).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from infra.advisor.gpus import GpuInstance, lookup
from infra.advisor.memory import MemoryPlan
from infra.advisor.speed import Speed, estimate

GB = 10**9


@dataclass(frozen=True)
class Verdict:
    instance_type: str
    fits: bool
    gpus_per_server: int
    servers: int
    need_bytes_per_gpu: int
    have_bytes_per_gpu: int
    reason: str

    @property
    def layout(self) -> str:
        if not self.fits:
            return "does not fit"
        split = "1 GPU" if self.gpus_per_server == 1 else f"{self.gpus_per_server} GPUs, layer split"
        return split if self.servers == 1 else f"{self.servers} servers x {split}"


def need_per_gpu(plan: MemoryPlan, gpus: int) -> int:
    share = math.ceil(plan.layers / gpus) / plan.layers
    return int((plan.weights_bytes + plan.kv.bytes) * share) + plan.margin_bytes


def fits_on(plan: MemoryPlan, instance: GpuInstance) -> Verdict:
    have = instance.memory_bytes_per_gpu
    for n in range(1, instance.gpu_count + 1):
        need = need_per_gpu(plan, n)
        if need <= have:
            reason = (
                f"needs {need / GB:.2f} GB per GPU on {n} of {instance.gpu_count} x {instance.gpu_model.upper()} "
                f"({have / GB:.2f} GB each)"
            )
            return Verdict(instance.name, True, n, instance.gpu_count // n, need, have, reason)
    need = need_per_gpu(plan, instance.gpu_count)
    reason = (
        f"needs {need / GB:.2f} GB per GPU even split over all {instance.gpu_count} x "
        f"{instance.gpu_model.upper()} ({have / GB:.2f} GB each)"
    )
    return Verdict(instance.name, False, instance.gpu_count, 0, need, have, reason)


def fits(plan: MemoryPlan, instance_type: str) -> Verdict:
    """Whether one server of `plan` fits on `instance_type` (a catalog name); ValueError if it is not a GPU type."""
    return fits_on(plan, lookup(instance_type))


@dataclass(frozen=True)
class Option:
    plan: MemoryPlan
    instance: GpuInstance
    verdict: Verdict
    speed: Speed | None
    """None when the GPU's bandwidth is not recorded."""

    @property
    def instance_tps(self) -> float | None:
        return None if self.speed is None else self.speed.aggregate_central * self.verdict.servers

    def usd_per_million(self, hourly: Decimal | None, tps: float | None = None) -> Decimal | None:
        tps = self.instance_tps if tps is None else tps
        if hourly is None or not tps:
            return None
        value = hourly * Decimal(10**6) / (Decimal(repr(tps)) * 3600)
        return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    @property
    def on_demand_per_million(self) -> Decimal | None:
        return self.usd_per_million(self.instance.on_demand_hourly)

    @property
    def spot_per_million(self) -> Decimal | None:
        return self.usd_per_million(self.instance.spot_hourly)

    def range_per_million(self, hourly: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
        """(cheapest, dearest) price per million tokens over the speed range."""
        if self.speed is None:
            return None, None
        s = self.verdict.servers
        return (
            self.usd_per_million(hourly, self.speed.aggregate_high * s),
            self.usd_per_million(hourly, self.speed.aggregate_low * s),
        )


def option(plan: MemoryPlan, instance: GpuInstance) -> Option:
    verdict = fits_on(plan, instance)
    speed = None
    if verdict.fits and instance.bandwidth_bytes_s is not None:
        speed = estimate(plan.quant, plan.bytes_per_token, instance.bandwidth_bytes_s, plan.parallel)
    return Option(plan, instance, verdict, speed)


def _key(o: Option) -> tuple[int, int, Decimal, Decimal, str]:
    # Single-GPU servers first, then layer-split ones; priced by tokens before unknown speed; cheapest first.
    per_million = o.on_demand_per_million
    hourly = o.instance.on_demand_hourly
    return (
        0 if o.verdict.gpus_per_server == 1 else 1,
        0 if per_million is not None else 1,
        per_million if per_million is not None else Decimal("Infinity"),
        hourly if hourly is not None else Decimal("Infinity"),
        o.instance.name,
    )


def rank(plans: Sequence[MemoryPlan], instances: Sequence[GpuInstance]) -> tuple[list[Option], list[Option]]:
    """(fitting options ranked, options that do not fit)."""
    every = [option(p, i) for p in plans for i in instances]
    fitting = sorted((o for o in every if o.verdict.fits), key=_key)
    too_small = sorted((o for o in every if not o.verdict.fits), key=lambda o: (o.plan.quant, o.instance.name))
    return fitting, too_small


def pool_warnings(pools: Mapping[str, Sequence[str]], plan: MemoryPlan) -> list[str]:
    """One warning per pool instance type that cannot hold one server of `plan` (unknown types included).

    `pools` maps a pool's name to its instance types (the launch template overrides). This is what
    `frugal plan`/`frugal preview` print once a pool knows its tier's model.
    """
    warnings = []
    for pool, types in pools.items():
        for instance_type in types:
            try:
                verdict = fits(plan, instance_type)
            except ValueError as exc:
                warnings.append(f"pool {pool}: {exc}")
                continue
            if not verdict.fits:
                warnings.append(
                    f"pool {pool}: {instance_type} cannot hold the {plan.quant} model with {plan.parallel} slots of "
                    f"{plan.ctx_per_slot} tokens: {verdict.reason}; fix: a larger GPU type, a smaller quantization, "
                    "fewer slots or a shorter context"
                )
    return warnings


def usd_per_1k_output_tokens(plan: MemoryPlan, instance_type: str, *, spot: bool = False) -> Decimal | None:
    """A tier's completion price per 1,000 tokens on its pool's instance type, at full slots (central estimate).

    The figure a gateway can derive a tier's price from, instead of a placeholder throughput; None when
    the type cannot hold the plan or its speed or price is unknown.
    """
    o = option(plan, lookup(instance_type))
    if not o.verdict.fits:
        return None
    per_million = o.spot_per_million if spot else o.on_demand_per_million
    return None if per_million is None else per_million / 1000
