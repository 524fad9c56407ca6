"""Test doubles shared by the suites.

The recording fake engine is the product's own (`infra.offline.RecordingEngine` and
`RecordingMonitor`, a `pulumi.runtime.Mocks` with a monitor that keeps every registration): the
offline plan is a feature, so tests exercise the same engine users run. Helpers here build stack
configs to break in tests.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from infra.config import PROJECT, decode_value
from infra.offline import read_stack_config


def stack_values(stack: str) -> dict[str, Any]:
    """A stack's config as plain Python values keyed without the namespace, for editing in tests."""
    return {key.split(":", 1)[1]: decode_value(raw) for key, raw in read_stack_config(stack).items()}


def bad_stack_values() -> dict[str, Any]:
    """The dev stack's config with choices that pass config validation but not the policy pack:
    lowest-price spot allocation on a single instance type."""
    values = stack_values("dev")
    values["pools"][0]["spot_allocation_strategy"] = "lowest-price"
    values["pools"][0]["instance_types"] = ["g5.xlarge"]
    return values


def as_engine_config(values: dict[str, Any]) -> dict[str, str]:
    """Plain values back into what the engine hands a program: 'frugal-llm:key' -> JSON string."""
    return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


# --- policy pack -------------------------------------------------------------------------------
# Rules are called the way the engine calls them: with the SDK's real ResourceValidationArgs /
# StackValidationArgs (built by policies.adapter exactly as the analyzer server builds them) and a
# report_violation that collects into a list.

DELETE = object()
"""Marks a path to remove in `changed`."""


class Violations(list):
    """A list-collecting `report_violation(message, urn=None)`."""

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self]

    def text(self) -> str:
        return "\n".join(self.messages)


def changed(inputs: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `inputs` with dotted paths ('a.b.0.c') set to new values, or removed with DELETE."""
    out = copy.deepcopy(inputs)
    for path, value in changes.items():
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
        node: Any = out
        for key in keys[:-1]:
            node = node[key]
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = copy.deepcopy(value)
    return out


def planned(type_: str, name: str, inputs: dict[str, Any], *, stack: str = "dev", **extra: Any) -> Any:
    """A PlannedResource with a URN of the usual shape."""
    from infra.plan import PlannedResource

    urn = f"urn:pulumi:{stack}::{PROJECT}::{type_}::{name}"
    return PlannedResource(urn=urn, type=type_, name=name, custom=True, inputs=inputs, **extra)


def one(plan: Any, type_: str, name: str | None = None) -> Any:
    """The single resource of a type (and name) in a plan."""
    found = [r for r in plan.resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, f"expected exactly one {type_} {name or ''} in the plan, found {len(found)}"
    return found[0]


def with_resource(plan: Any, resource: Any, **changes: Any) -> Any:
    """The plan with `resource`'s inputs changed (dotted paths), everything else as it was."""
    new = resource.model_copy(update={"inputs": changed(resource.inputs, changes)})
    return plan.model_copy(update={"resources": [new if r.urn == resource.urn else r for r in plan.resources]})


def resource_args(resource: Any, plan: Any = None, config: dict[str, Any] | None = None, **changes: Any) -> Any:
    """Real ResourceValidationArgs for a planned resource, its inputs optionally changed."""
    from infra.plan import Plan
    from policies.adapter import resource_args as build

    plan = plan or Plan(project=PROJECT, stack="dev", source="offline", resources=[resource])
    if changes:
        plan = with_resource(plan, resource, **changes)
        resource = plan.by_urn(resource.urn)
    return build(resource, plan, config)


def stack_args(plan: Any, config: dict[str, Any] | None = None) -> Any:
    """Real StackValidationArgs for a whole plan."""
    from policies.adapter import stack_args as build

    return build(plan, config)
