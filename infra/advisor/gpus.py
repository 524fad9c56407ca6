"""GPU instance types from the price catalog, with each GPU's memory bandwidth (infra/data/gpu-specs.json).

GPU model, count and memory per GPU come from the catalog (EC2's own figures); the bandwidth, which
the catalog lacks, from NVIDIA's datasheets. Types the pools cannot use (no NVIDIA GPU, a fraction of
one, or ARM) are listed with the reason instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from infra.catalog import Catalog, InstanceType, load_catalog

SPECS_PATH = Path(__file__).resolve().parent.parent / "data" / "gpu-specs.json"
MIB = 1024**2


@dataclass(frozen=True)
class GpuInstance:
    name: str
    gpu_model: str
    gpu_count: int
    memory_bytes_per_gpu: int
    bandwidth_bytes_s: float | None
    """None when no datasheet figure is recorded: fit and price are still known, speed is not."""
    bandwidth_source: str | None
    on_demand_hourly: Decimal | None
    spot_saving_pct: int | None
    interruption_band: str | None

    @property
    def spot_hourly(self) -> Decimal | None:
        """Spot price implied by the Spot Instance Advisor's 30-day average saving."""
        if self.on_demand_hourly is None or self.spot_saving_pct is None:
            return None
        return self.on_demand_hourly * (100 - self.spot_saving_pct) / 100


@lru_cache(maxsize=2)
def load_specs(path: Path = SPECS_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _bandwidth(model: str, memory_mib: int, specs: dict[str, Any]) -> tuple[float | None, str | None]:
    entry = specs["gpus"].get(model)
    if entry is None:
        return None, None
    by_memory = entry.get("bandwidth_gb_s_by_memory_mib", {})
    gb_s = by_memory.get(str(memory_mib), entry["bandwidth_gb_s"])
    return float(gb_s) * 1e9, f"{entry['product']}: {gb_s} GB/s, {entry['source']} (recorded {specs['recorded']})"


def gpu_instance(spec: InstanceType, specs: dict[str, Any] | None = None) -> GpuInstance:
    if spec.gpu is None:
        raise ValueError(f"{spec.name} has no GPU in the catalog; choose a GPU instance type (g4dn, g5, g6, p4d...)")
    specs = specs if specs is not None else load_specs()
    bandwidth, source = _bandwidth(spec.gpu.model, spec.gpu.memory_mib_per_gpu, specs)
    return GpuInstance(
        name=spec.name,
        gpu_model=spec.gpu.model,
        gpu_count=spec.gpu.count,
        memory_bytes_per_gpu=spec.gpu.memory_mib_per_gpu * MIB,
        bandwidth_bytes_s=bandwidth,
        bandwidth_source=source,
        on_demand_hourly=spec.on_demand_hourly,
        spot_saving_pct=spec.spot_saving_pct,
        interruption_band=spec.interruption_band,
    )


def lookup(instance_type: str, catalog: Catalog | None = None) -> GpuInstance:
    catalog = catalog or load_catalog()
    spec = catalog.get(instance_type)
    if spec is None:
        raise ValueError(f"{instance_type!r} is not in the price catalog ({catalog.region}); check the name")
    reason = spec.usable_gpu_reason
    if reason:
        raise ValueError(f"{instance_type} cannot run the model servers: {reason}")
    return gpu_instance(spec)


def usable(catalog: Catalog | None = None) -> tuple[list[GpuInstance], dict[str, str]]:
    """(GPU instance types the pools can use, {unusable GPU type: why})."""
    catalog = catalog or load_catalog()
    specs = load_specs()
    ok, skipped = [], {}
    for name in sorted(catalog.instances):
        spec = catalog.instances[name]
        if spec.gpu is None:
            continue
        reason = spec.usable_gpu_reason
        if reason:
            skipped[name] = reason
        else:
            ok.append(gpu_instance(spec, specs))
    return ok, skipped
