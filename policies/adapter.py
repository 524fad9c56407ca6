"""Between our `Plan` (infra/plan.py) and the policy SDK's argument types, both ways.

- `resource_args` / `stack_args` turn planned resources into the REAL `ResourceValidationArgs` /
  `StackValidationArgs`, built the way the engine's analyzer server builds them: properties go
  through a protobuf Struct (so 2 arrives as 2.0), are deserialized by the SDK and wrapped in its
  unknown-checking proxies (the plan's "<unknown>" becomes the engine's unknown sentinel again);
  parents, dependencies and property dependencies become `PolicyResource` references.
- `plan_from_stack` goes back: a stack rule hands the stack to the cost model, which reads a Plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, _is_unknown, unknown_checking_proxy

from infra.plan import UNKNOWN, Plan, PlannedResource
from infra.tokens import (
    KUBERNETES_CONFIG_FILE,
    KUBERNETES_CONFIG_GROUP,
    KUBERNETES_HELM_CHART_V4,
    KUBERNETES_KUSTOMIZE_DIRECTORY,
)
from policies.props import plain

PROVIDER_PREFIX = "pulumi:providers:"
COMPONENT_PACKAGE = "frugal"


def _engine_value(value: Any) -> Any:
    if value == UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {k: _engine_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_engine_value(v) for v in value]
    return value


def engine_props(inputs: Mapping[str, Any]) -> Any:
    """Inputs as the analyzer server sees them: through a protobuf Struct, deserialized, proxied."""
    struct = struct_pb2.Struct()
    struct.update(_engine_value(dict(inputs)))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def engine_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A policy's config as the analyzer server gets it from the CLI: through a Struct (22 -> 22.0)."""
    struct = struct_pb2.Struct()
    struct.update(dict(config or {}))
    as_dict: dict[str, Any] = json_format.MessageToDict(struct)
    return as_dict


def _options(resource: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _provider(resource: PlannedResource, plan: Plan) -> PolicyProviderResource | None:
    provider = plan.by_urn(resource.provider) if resource.provider else None
    if provider is None:
        return None
    return PolicyProviderResource(provider.type, engine_props(provider.inputs), provider.urn, provider.name)


def resource_args(
    resource: PlannedResource,
    plan: Plan,
    config: Mapping[str, Any] | None = None,
    stack_tags: Mapping[str, str] | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.type,
        engine_props(resource.inputs),
        resource.urn,
        resource.name,
        _options(resource),
        _provider(resource, plan),
        engine_config(config),
        dict(stack_tags or {}),
    )


def stack_args(
    plan: Plan, config: Mapping[str, Any] | None = None, stack_tags: Mapping[str, str] | None = None
) -> StackValidationArgs:
    """The stack as AnalyzeStack passes it: every resource but the providers, linked by reference."""
    planned = [r for r in plan.resources if not r.type.startswith(PROVIDER_PREFIX)]
    built = {
        r.urn: PolicyResource(
            r.type, engine_props(r.inputs), r.urn, r.name, _options(r), _provider(r, plan), None, [], {}
        )
        for r in planned
    }
    for r in planned:
        resource = built[r.urn]
        resource.parent = built.get(r.parent) if r.parent else None
        resource.dependencies = [built[d] for d in r.dependencies if d in built]
        resource.property_dependencies = {
            k: [built[d] for d in urns if d in built] for k, urns in r.property_dependencies.items()
        }
    return StackValidationArgs(list(built.values()), engine_config(config), dict(stack_tags or {}))


def _plan_value(value: Any) -> Any:
    if _is_unknown(value):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _plan_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plan_value(v) for v in value]
    return value


def plan_from_stack(args: StackValidationArgs) -> Plan:
    """The stack a stack rule sees, as the Plan the cost model reads (project and stack from the URNs)."""
    if not args.resources:
        raise ValueError("an empty stack has no plan: no resources to read project and stack from")
    from infra.readers import parse_urn

    stack, project, _, _ = parse_urn(args.resources[0].urn)
    return Plan(
        project=project,
        stack=stack,
        source="pulumi-preview",
        resources=[
            PlannedResource(
                urn=r.urn,
                type=r.resource_type,
                name=r.name,
                custom=_custom(r.resource_type),
                parent=r.parent.urn if r.parent else None,
                provider=r.provider.urn if r.provider else None,
                inputs=_plan_value(plain(r.props)),
                dependencies=[d.urn for d in r.dependencies],
                property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
            )
            for r in args.resources
        ],
    )


# Components that provider packages implement (multi-language components): not custom resources.
PROVIDER_COMPONENTS = frozenset(
    {
        KUBERNETES_CONFIG_GROUP,
        KUBERNETES_CONFIG_FILE,
        KUBERNETES_HELM_CHART_V4,
        KUBERNETES_KUSTOMIZE_DIRECTORY,
    }
)


def _custom(resource_type: str) -> bool:
    # The analyzer protocol does not say whether a resource is custom: provider packages' types
    # (aws:..., kubernetes:...) are, except their multi-language components; our component tokens
    # (frugal:..., infra/components/_base.py) are not.
    if resource_type in PROVIDER_COMPONENTS:
        return False
    return resource_type.split(":", 1)[0] not in (COMPONENT_PACKAGE, "pulumi")
