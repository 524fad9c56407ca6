"""EKS managed node groups in a plan, as pool specs the pool pricer understands.

Pure. A managed node group is an auto-scaling group EKS creates for us, so it is priced like one:
its desired size all month (no scheduled actions), on-demand or spot as its capacity type says,
over its instance types, with the root volume of its launch template. EKS launches on-demand
capacity in the order the types are listed ('prioritized') and spot capacity with
'price-capacity-optimized' (Amazon EKS user guide, "Managed node groups: capacity types").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infra.cost.plan_pools import PlanShapeError, _root_volume, _template_for
from infra.cost.pools import PoolSpec, RootVolume
from infra.plan import Plan, PlannedResource
from infra.schedule import Capacity
from infra.tokens import EC2_LAUNCH_TEMPLATE, EKS_NODE_GROUP

NODE_GROUP = EKS_NODE_GROUP
# What EKS uses when a node group names no instance type and no launch template sets a disk.
AWS_DEFAULT_INSTANCE_TYPE = "t3.medium"
AWS_DEFAULT_DISK_GIB = 20


def _size(value: Any, what: str, r: PlannedResource) -> int:
    try:
        return int(Decimal(str(value)))
    except ArithmeticError:
        raise PlanShapeError(f"{r.name}: scalingConfig.{what}={value!r} is not a number; fix: set it") from None


def node_group_spec(r: PlannedResource, plan: Plan | None) -> PoolSpec:
    i = r.inputs
    scaling = i.get("scalingConfig") or {}
    min_size = _size(scaling.get("minSize", 1), "minSize", r)
    max_size = _size(scaling.get("maxSize", min_size), "maxSize", r)
    desired = _size(scaling.get("desiredSize", min_size), "desiredSize", r)
    notes: list[str] = []
    types = [t for t in i.get("instanceTypes") or [] if isinstance(t, str)]
    if not types:
        types = [AWS_DEFAULT_INSTANCE_TYPE]
        notes.append(f"{r.name}: no instance types; EKS's default {AWS_DEFAULT_INSTANCE_TYPE} priced")
    templates = sorted(plan.of_type(EC2_LAUNCH_TEMPLATE), key=lambda t: t.urn) if plan is not None else []
    spec = i.get("launchTemplate") or {}
    template = _template_for(r, spec, templates) if spec else None
    root = _root_volume(template, notes)
    if root is None:
        disk = i.get("diskSize") or AWS_DEFAULT_DISK_GIB
        root = RootVolume(size_gib=_size(disk, "diskSize", r), volume_type="gp3")
    spot = i.get("capacityType") == "SPOT"
    return PoolSpec(
        urn=r.urn,
        name=r.name,
        overrides=types,
        on_demand_base=0,
        on_demand_pct=0 if spot else 100,
        spot_strategy="price-capacity-optimized",
        on_demand_strategy="prioritized",
        initial=Capacity(min_size, max_size, max(min_size, min(desired, max_size))),
        actions=[],
        root_volume=root,
        notes=notes,
    )
