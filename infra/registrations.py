"""The resources the program really registers, recorded as a Plan by a stack transformation.

`pulumi preview` cannot hand a program its own plan, but every resource passes through the stack's
transformations when it is constructed. `Recorder` keeps each one (resource, type, name, inputs);
`Recorder.plan()` serializes the inputs the way the engine receives them (wire names, nested input
types, secrets unwrapped, and, during a preview, values not known yet as the plan's `UNKNOWN`) and
returns the same `Plan` model the offline run and the CLI readers produce. The program prices that
plan with the cost model and exports the expected monthly cost (`expected_cost_output`): no second
description of the resources exists anywhere.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pulumi
from pulumi import _types
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

from infra.alert_context import cost_summary
from infra.cost.estimate import COST_OUTPUT, estimate_plan
from infra.cost.plan_pools import PlanShapeError
from infra.cost.schedules import ScheduleError
from infra.plan import UNKNOWN, Plan, PlannedResource, is_unknown
from infra.tokens import AUTOSCALING_SCHEDULE, EC2_LAUNCH_TEMPLATE

__all__ = [
    "COST_OUTPUT",
    "Recorder",
    "cost_export",
    "cost_summary_output",
    "expected_cost_output",
    "record_registrations",
]

UNKNOWN_COST = "unknown"
"""What the export says when the cost depends on a value the engine does not know yet (a preview)."""


class Recorder:
    """A stack transformation that keeps every resource constructed after it was registered."""

    def __init__(self) -> None:
        self._seen: list[tuple[pulumi.Resource, str, str, dict[str, Any], pulumi.ResourceOptions]] = []

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> None:
        self._seen.append((args.resource, args.type_, args.name, dict(args.props), args.opts))
        return None  # observe only: the resource is registered exactly as declared

    def mark(self) -> int:
        """How many resources are recorded now: `plan(upto=mark)` prices only those."""
        return len(self._seen)

    async def plan(self, project: str, stack: str, upto: int | None = None) -> Plan:
        resources: list[PlannedResource] = []
        done = 0
        # Resources constructed inside applies join while we wait (unless the plan stops at a mark).
        while done < (len(self._seen) if upto is None else upto):
            end = len(self._seen) if upto is None else upto
            batch, done = self._seen[done:end], end
            for resource, type_, name, props, opts in batch:
                resources.append(await _planned(resource, type_, name, props, opts))
        return Plan(project=project, stack=stack, source="offline", resources=resources)


def record_registrations() -> Recorder:
    """Register a Recorder on the stack; call before the program declares its first resource."""
    recorder = Recorder()
    pulumi.runtime.register_stack_transformation(recorder)
    return recorder


def _input_type(resource: pulumi.Resource) -> type | None:
    """The resource's generated `<Name>Args` input type, which names its inputs on the wire."""
    cls = type(resource)
    typ = getattr(sys.modules.get(cls.__module__), f"{cls.__name__}Args", None)
    return typ if isinstance(typ, type) and _types.is_input_type(typ) else None


async def _urn(resource: pulumi.Resource | None) -> str | None:
    if resource is None:
        return None
    urn: str | None = await resource.urn.future()
    return urn


async def _planned(
    resource: pulumi.Resource, type_: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
) -> PlannedResource:
    deps: dict[str, list[pulumi.Resource]] = {}
    typ = _input_type(resource)
    struct = await rpc.serialize_properties(
        props, deps, resource, None if typ is not None else resource.translate_input_property, typ
    )
    inputs = _plain(rpc.deserialize_properties(struct, keep_unknowns=True))
    property_dependencies = {
        key: list(dict.fromkeys([u for d in found if (u := await _urn(d))])) for key, found in deps.items()
    }
    explicit = opts.depends_on if isinstance(opts.depends_on, list) else [opts.depends_on]
    depends_on = [u for d in explicit if isinstance(d, pulumi.Resource) and (u := await _urn(d))]
    provider = getattr(resource, "_provider", None)
    parent = opts.parent or pulumi_settings.get_root_resource()
    return PlannedResource(
        urn=await _urn(resource) or f"{type_}::{name}",
        type=type_,
        name=name,
        custom=isinstance(resource, pulumi.CustomResource),
        parent=await _urn(parent),
        provider=await _urn(provider),
        inputs=inputs,
        dependencies=sorted({*depends_on, *(u for urns in property_dependencies.values() for u in urns)}),
        property_dependencies=property_dependencies,
    )


def _plain(value: Any) -> Any:
    """Inputs as JSON-ready data, as the offline run writes them; an unknown value becomes UNKNOWN."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return UNKNOWN if value == rpc.UNKNOWN else value
    if isinstance(value, pulumi.FileAsset):
        return {"asset": value.path}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": sorted(value.assets)}
    return UNKNOWN if type(value).__name__ == "Unknown" else repr(value)


# During a preview of new resources, references to other resources (their ids, ARNs and names) are
# not known yet; none of them changes a price (the cost model matches groups to their templates and
# schedules through the dependencies instead). Any other unknown input of a priced resource does.
_REFERENCE_KEY = re.compile(r"(?:Ids?|Arns?|Identifiers|Name|Actions)$|^(?:arn|userData)$")
_REFERENCE_PATHS = {
    ("launchTemplateSpecification", "version"),
    ("launchTemplate", "version"),
    ("launchTemplate", "id"),
}


def _price_inputs_unknown(value: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Paths of unknown values in inputs, other than references to other resources."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _price_inputs_unknown(v, (*path, k))]
    if isinstance(value, list):
        return [p for v in value for p in _price_inputs_unknown(v, path)]
    if not is_unknown(value):
        return []
    if path and (_REFERENCE_KEY.search(path[-1]) or tuple(path[-2:]) in _REFERENCE_PATHS):
        return []
    return [".".join(path)]


def cost_export(plan: Plan) -> str:
    """The expected monthly cost of the plan in USD as text, or UNKNOWN_COST.

    Unknown when the cost model cannot price a resource or the plan's shape, or when a resource it
    prices (or one priced with its group: launch templates and scheduled actions) has an unknown input
    that is not a reference to another resource: a figure from a guess would look exact in
    `pulumi preview` and be wrong.
    """
    try:
        report = estimate_plan(plan)
    except (PlanShapeError, ScheduleError):
        return UNKNOWN_COST
    billable = {r.urn for r in report.resources if r.status != "free"}
    linked = {EC2_LAUNCH_TEMPLATE, AUTOSCALING_SCHEDULE}
    guessed = [r for r in plan.resources if (r.urn in billable or r.type in linked) and _price_inputs_unknown(r.inputs)]
    if not report.complete or report.total.expected is None or guessed:
        return UNKNOWN_COST
    return str(report.total.expected)


def cost_summary_output(recorder: Recorder, project: str, stack: str) -> pulumi.Output[str]:
    """The alert forwarder's cost figures (infra.alert_context.cost_summary) over what is registered so far.

    Take it just before declaring the alert delivery: a function cannot quote a figure that depends on
    its own definition, so the summary prices everything but the alerting resources (about a dollar a
    month, see docs/alerts.md); the expected total is null whenever the export would say unknown.
    """
    upto = recorder.mark()

    async def compute() -> str:
        plan = await recorder.plan(project, stack, upto=upto)
        try:
            report = estimate_plan(plan)
        except (PlanShapeError, ScheduleError):
            return json.dumps({"expected_monthly_cost_usd": None, "top_items": []})
        summary = json.loads(cost_summary(report))
        if cost_export(plan) == UNKNOWN_COST:
            summary["expected_monthly_cost_usd"] = None
        return json.dumps(summary)

    return pulumi.Output.from_input(compute())


def expected_cost_output(recorder: Recorder, project: str, stack: str) -> pulumi.Output[str]:
    """The stack output `expected_monthly_cost_usd`, computed once every registration is known."""

    async def compute() -> str:
        return cost_export(await recorder.plan(project, stack))

    return pulumi.Output.from_input(compute())
