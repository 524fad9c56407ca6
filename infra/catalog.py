"""The instance catalog shipped with the project: EC2 specs, on-demand prices and spot advisor figures.

Pure (no Pulumi import). The file `infra/data/aws-catalog.json` is derived from the dated public
snapshots in `shared/data/aws/` by `derive_catalog()` (run through `frugal prices derive`), and it
records its sources and dates, so every figure that comes out of it can say where it came from.
`frugal prices refresh` rewrites the same file from the live AWS APIs.

It also holds the EKS version calendar (support end dates per Kubernetes version): the program's
config validation and the cost model's EKS price both read it from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).parent / "data" / "aws-catalog.json"
SCHEMA = "frugal.catalog/v1"

# Amazon EKS Kubernetes version calendar, recorded 2026-11-24. A version gets 14 months of standard
# support, then 12 of extended support (billed at the extended rate); after that AWS upgrades the cluster.
EKS_STANDARD_SUPPORT_ENDS: dict[str, date] = {
    "1.29": date(2025, 3, 23),
    "1.30": date(2025, 7, 23),
    "1.31": date(2025, 11, 26),
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
}
EKS_EXTENDED_SUPPORT_ENDS: dict[str, date] = {
    "1.29": date(2026, 3, 23),
    "1.30": date(2026, 7, 23),
    "1.31": date(2026, 11, 26),
    "1.32": date(2027, 3, 23),
    "1.33": date(2027, 7, 29),
    "1.34": date(2027, 12, 2),
    "1.35": date(2028, 3, 27),
}
EKS_CALENDAR_AS_OF = "2026-11-24"
EKS_CALENDAR_SOURCE = (
    "Amazon EKS Kubernetes release calendar (docs.aws.amazon.com/eks, kubernetes-versions; dates as listed "
    "on endoflife.date/amazon-eks)"
)


@dataclass(frozen=True)
class Gpu:
    count: int
    model: str
    manufacturer: str
    memory_mib_per_gpu: int


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int | None
    memory_mib: int | None
    arch: str | None
    on_demand_hourly: Decimal | None
    gpu: Gpu | None
    spot_saving_pct: int | None
    """Spot Instance Advisor's 30-day average saving against on-demand, in percent."""
    interruption_band: str | None
    """Spot Instance Advisor's band of monthly interruption frequency, such as '<5%' or '>20%'."""

    @property
    def usable_gpu_reason(self) -> str | None:
        """Why this type cannot run our CUDA llama-server pods, or None when it can."""
        if self.gpu is None:
            return "it has no GPU"
        if self.gpu.manufacturer != "nvidia":
            return f"its GPU ({self.gpu.model}) is not NVIDIA, and the EKS accelerated AMI and CUDA image need one"
        if self.gpu.count < 1:
            return f"it has only a fraction of an {self.gpu.model.upper()} GPU, which nvidia.com/gpu cannot schedule"
        if self.arch != "amd64":
            return f"it is {self.arch}; the pools use the x86_64 accelerated AMI"
        return None


@dataclass(frozen=True)
class Catalog:
    region: str
    instances: dict[str, InstanceType]
    sources: dict[str, dict[str, str]]
    """Per dataset ('on_demand', 'spot_advisor'): its source and as_of date."""

    def get(self, instance_type: str) -> InstanceType | None:
        return self.instances.get(instance_type)


def _instance_from_json(name: str, raw: dict[str, Any]) -> InstanceType:
    gpu = raw.get("gpu")
    price = raw.get("on_demand_hourly")
    return InstanceType(
        name=name,
        vcpu=raw.get("vcpu"),
        memory_mib=raw.get("memory_mib"),
        arch=raw.get("arch"),
        # Prices go through str() so that Decimal keeps the catalog's digits, not a binary float's.
        on_demand_hourly=None if price is None else Decimal(str(price)),
        gpu=None
        if not gpu
        else Gpu(
            count=int(gpu["count"]),
            model=gpu["name"],
            manufacturer=gpu.get("manufacturer", "unknown"),
            memory_mib_per_gpu=int(gpu.get("memory_mib_per_gpu", 0)),
        ),
        spot_saving_pct=raw.get("spot_saving_pct"),
        interruption_band=raw.get("interruption_band"),
    )


@lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"price catalog {path} is missing; regenerate it with `frugal prices derive` "
            "(from shared/data/aws) or `frugal prices refresh` (from the AWS APIs)"
        ) from exc
    if raw.get("schema") != SCHEMA:
        raise ValueError(f"price catalog {path} has schema {raw.get('schema')!r}, expected {SCHEMA!r}")
    return Catalog(
        region=raw["region"],
        instances={name: _instance_from_json(name, spec) for name, spec in raw["instances"].items()},
        sources=raw["sources"],
    )


def derive_catalog(
    on_demand_file: Path, spot_advisor_file: Path, *, spot_as_of: str = "2025-06-28", region: str = "us-east-1"
) -> dict[str, Any]:
    """Merge the on-demand snapshot and the Spot Instance Advisor feed into the shipped catalog format.

    The advisor feed carries no date of its own; `spot_as_of` is the date its snapshot was taken
    (shared/data/README.md gives 2025-06-28).
    """
    on_demand = json.loads(on_demand_file.read_text())
    advisor = json.loads(spot_advisor_file.read_text())
    if on_demand.get("region") != region:
        raise ValueError(f"{on_demand_file} is for {on_demand.get('region')!r}, not {region!r}")
    bands = {r["index"]: r["label"] for r in advisor["ranges"]}
    spot = advisor["spot_advisor"].get(region, {}).get("Linux", {})
    instances: dict[str, Any] = {}
    for name, spec in sorted(on_demand["instances"].items()):
        entry = {k: spec[k] for k in ("on_demand_hourly", "vcpu", "memory_mib", "arch") if k in spec}
        if "gpu" in spec:
            entry["gpu"] = spec["gpu"]
        if name in spot:
            entry["spot_saving_pct"] = spot[name]["s"]
            entry["interruption_band"] = bands[spot[name]["r"]]
        instances[name] = entry
    return {
        "schema": SCHEMA,
        "region": region,
        "sources": {
            "on_demand": {
                "source": on_demand["source"],
                "as_of": on_demand["as_of"][:10],
                "unit": on_demand["unit"],
                "operating_system": on_demand["operating_system"],
                "tenancy": on_demand["tenancy"],
            },
            "spot_advisor": {
                "source": "AWS Spot Instance Advisor feed spot-advisor-data.json "
                "(as embedded by alexei-led/spotinfo); s = average saving vs on-demand over 30 days, "
                "r = interruption band",
                "as_of": spot_as_of,
            },
        },
        "instances": instances,
    }
