"""Capacity arithmetic shared by the components, the cost model and the policies (pure, no Pulumi).

The on-demand/spot split follows AWS's rule for a mixed instances policy: the on-demand base is
filled first; of the capacity above it, `percentage` percent is on-demand, rounded up in favour of
on-demand; the rest is spot. (Infracost's autoscaling_group.go uses the same rule.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.catalog import load_catalog


@dataclass(frozen=True)
class Split:
    on_demand: int
    spot: int


def lifecycle_split(capacity: int, on_demand_base: int, on_demand_pct_above_base: int) -> Split:
    if capacity < 0 or on_demand_base < 0 or not 0 <= on_demand_pct_above_base <= 100:
        raise ValueError(
            f"capacity={capacity}, base={on_demand_base}, pct={on_demand_pct_above_base}: "
            "need capacity >= 0, base >= 0 and 0 <= pct <= 100"
        )
    base = min(capacity, on_demand_base)
    above = capacity - base
    on_demand = base + math.ceil(above * on_demand_pct_above_base / 100)
    return Split(on_demand=on_demand, spot=capacity - on_demand)


def gpus_per_instance(instance_type: str) -> int:
    spec = load_catalog().get(instance_type)
    if spec is None or spec.gpu is None:
        raise ValueError(f"{instance_type!r} has no GPU in the catalog")
    return spec.gpu.count
