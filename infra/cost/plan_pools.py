"""Find the GPU pools in a plan: auto-scaling groups, their launch templates and scheduled actions.

Pure; reads only `Plan` inputs, so it works on the offline plan and on real `pulumi preview --json`
output alike. Matching, in order:
- launch template -> group: the template id/name in the group's launch template specification
  (offline: `<logical name>-offline`), else the one template that shares the group's parent
  component, else the only template in the plan;
- scheduled action -> group: `autoscalingGroupName` equal to the group's name (offline:
  `<logical name>-offline`), else, when the name is not known yet (a create in a real preview),
  the action's property dependency on the group's URN, else the only group in the plan. An action
  matched to no group is reported and the group is priced at its own sizes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infra.cost.pools import PoolSpec, RootVolume
from infra.cost.schedules import actions_from_schedules
from infra.plan import Plan, PlannedResource, is_unknown
from infra.schedule import Capacity
from infra.tokens import AUTOSCALING_GROUP, AUTOSCALING_SCHEDULE, EC2_LAUNCH_TEMPLATE

# AWS's defaults for a mixed instances policy's instances distribution.
AWS_DIST_DEFAULTS = {
    "onDemandBaseCapacity": 0,
    "onDemandPercentageAboveBaseCapacity": 100,
    "spotAllocationStrategy": "lowest-price",
    "onDemandAllocationStrategy": "prioritized",
}


class PlanShapeError(ValueError):
    """A plan whose group inputs cannot be priced (sizes missing or not numbers)."""


def _int(value: Any, what: str, r: PlannedResource) -> int | None:
    if value is None or is_unknown(value):
        return None
    try:
        return int(Decimal(str(value)))
    except ArithmeticError:
        raise PlanShapeError(f"{r.name}: {what}={value!r} is not a number; fix: check the plan file") from None


def _known(value: Any) -> bool:
    return value is not None and not is_unknown(value)


def _names(r: PlannedResource) -> set[str]:
    """The names other resources may refer to this one by: its name input, or the offline placeholder."""
    names = {f"{r.name}-offline"}
    for key in ("name", "id"):
        if isinstance(r.inputs.get(key), str) and _known(r.inputs[key]):
            names.add(r.inputs[key])
    return names


def _template_for(
    group: PlannedResource, spec: dict[str, Any], templates: list[PlannedResource]
) -> PlannedResource | None:
    wanted = {spec.get(k) for k in ("launchTemplateId", "launchTemplateName", "id", "name") if _known(spec.get(k))}
    for t in templates:
        if wanted & _names(t):
            return t
    siblings = [t for t in templates if t.parent and t.parent == group.parent]
    if len(siblings) == 1:
        return siblings[0]
    return templates[0] if len(templates) == 1 else None


def _root_volume(template: PlannedResource | None, notes: list[str]) -> RootVolume | None:
    if template is None:
        return None
    mappings = [m for m in template.inputs.get("blockDeviceMappings") or [] if isinstance(m.get("ebs"), dict)]
    if not mappings:
        return None
    if len(mappings) > 1:
        notes.append(f"launch template {template.name} maps {len(mappings)} EBS volumes; only the first is priced")
    ebs = mappings[0]["ebs"]
    size = ebs.get("volumeSize")
    if not _known(size):
        notes.append(f"launch template {template.name}: root volume size unknown (the AMI's); not priced")
        return None
    vtype = ebs.get("volumeType") or "gp3"
    iops, mbps = ebs.get("iops"), ebs.get("throughput")
    return RootVolume(
        size_gib=int(Decimal(str(size))),
        volume_type=vtype,
        iops=int(Decimal(str(iops))) if _known(iops) else None,
        throughput_mbps=int(Decimal(str(mbps))) if _known(mbps) else None,
    )


def _schedules_for(
    group: PlannedResource, groups: list[PlannedResource], schedules: list[PlannedResource], notes: list[str]
) -> list[PlannedResource]:
    names = _names(group)
    mine: list[PlannedResource] = []
    for s in schedules:
        target = s.inputs.get("autoscalingGroupName")
        if _known(target):
            if target in names:
                mine.append(s)
            continue
        deps = s.property_dependencies.get("autoscalingGroupName") or s.dependencies
        if group.urn in deps:
            mine.append(s)
            notes.append(f"scheduled action {s.name}: group name not known yet; matched by its dependency on the group")
        elif not deps and len(groups) == 1:
            mine.append(s)
            notes.append(f"scheduled action {s.name}: group name not known yet; matched to the plan's only group")
    return mine


def unmatched_schedules(plan: Plan, matched: set[str]) -> list[PlannedResource]:
    return [s for s in plan.of_type(AUTOSCALING_SCHEDULE) if s.urn not in matched]


def pool_specs(plan: Plan) -> tuple[list[tuple[PlannedResource, PoolSpec, list[str]]], list[str]]:
    """Every group as a PoolSpec with the schedules matched to it; and plan-level notes."""
    # Sorted by URN: an offline run registers in no fixed order, and reports must be reproducible.
    groups, templates, schedules = (
        sorted(plan.of_type(t), key=lambda r: r.urn)
        for t in (AUTOSCALING_GROUP, EC2_LAUNCH_TEMPLATE, AUTOSCALING_SCHEDULE)
    )
    out: list[tuple[PlannedResource, PoolSpec, list[str]]] = []
    matched: set[str] = set()
    for g in groups:
        notes: list[str] = []
        i = g.inputs
        min_size = _int(i.get("minSize"), "minSize", g)
        max_size = _int(i.get("maxSize"), "maxSize", g)
        desired = _int(i.get("desiredCapacity"), "desiredCapacity", g)
        if min_size is None or max_size is None:
            raise PlanShapeError(f"{g.name}: minSize/maxSize are not known in the plan; fix: set them as literals")
        if desired is None:
            desired = min_size
            notes.append(f"{g.name}: desiredCapacity not set; AWS starts the group at minSize={min_size}")
        mip = i.get("mixedInstancesPolicy")
        if isinstance(mip, dict):
            dist = {
                **AWS_DIST_DEFAULTS,
                **{k: v for k, v in (mip.get("instancesDistribution") or {}).items() if _known(v)},
            }
            lt = mip.get("launchTemplate") or {}
            overrides = [o["instanceType"] for o in lt.get("overrides") or [] if _known(o.get("instanceType"))]
            if any(o.get("weightedCapacity") for o in lt.get("overrides") or []):
                notes.append(f"{g.name}: weighted capacity in overrides is ignored (each instance counts as one)")
            template = _template_for(g, lt.get("launchTemplateSpecification") or {}, templates)
        else:
            dist = {**AWS_DIST_DEFAULTS, "onDemandPercentageAboveBaseCapacity": 100}
            template = _template_for(g, i.get("launchTemplate") or {}, templates)
            overrides = []
        if not overrides and template is not None and _known(template.inputs.get("instanceType")):
            overrides = [template.inputs["instanceType"]]
        if not overrides:
            notes.append(f"{g.name}: no instance type found (overrides or launch template); instances not priced")
        mine = _schedules_for(g, groups, schedules, notes)
        matched.update(s.urn for s in mine)
        read = actions_from_schedules([(s.name, s.inputs) for s in mine])
        notes.extend(read.notes)
        spec = PoolSpec(
            urn=g.urn,
            name=g.name,
            overrides=overrides,
            on_demand_base=int(Decimal(str(dist["onDemandBaseCapacity"]))),
            on_demand_pct=int(Decimal(str(dist["onDemandPercentageAboveBaseCapacity"]))),
            spot_strategy=str(dist["spotAllocationStrategy"]),
            on_demand_strategy=str(dist["onDemandAllocationStrategy"]),
            initial=Capacity(min_size, max_size, max(min_size, min(desired, max_size))),
            actions=read.actions,
            root_volume=_root_volume(template, notes),
            notes=notes,
        )
        out.append((g, spec, notes))
    plan_notes = [
        f"scheduled action {s.name} targets no group in this plan ({s.inputs.get('autoscalingGroupName')}); not applied"
        for s in unmatched_schedules(plan, matched)
    ]
    return out, plan_notes
