"""Read the real Pulumi CLI's JSON into the same `Plan` the offline run produces (pure, no Pulumi).

- `pulumi preview --json [--show-sames]`: a list of steps. The plan *after* the change is every
  step's `newState` (deleted resources have none); the plan *before* it is every `oldState`, so
  one preview file is enough for a cost diff. Without `--show-sames`, unchanged resources are
  missing from the file and a cost estimate would silently drop them: `read_preview_json` warns
  when it finds no `same` step in an update.
- `pulumi stack export`: `deployment.resources` as stored in the state.

Both formats carry the parent in `parent`, the provider as "<provider urn>::<provider id>", inputs
with a `__defaults` list of the keys the provider filled in, and URN types `$`-joined along the
parent chain (`aws:s3/bucket:Bucket$aws:s3:BucketEventSubscription$aws:iam/role:Role`): the
resource's own type is the last segment, and `type` is preferred when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.plan import ENGINE_UNKNOWN, UNKNOWN, Plan, PlannedResource

SIG_KEY = "4dabf18193072939515e22adb298388d"
SIG_SECRET = "1b47061264138c4ac30d75fd1eb44270"
SIG_ASSET = "c44067f5952c0a294b673a41bacd8c17"
SIG_ARCHIVE = "0def7320c3a5731c473e5ecbe6d01bc7"
SIG_RESOURCE_REF = "5cf8f73096256a8f31e491e813e4eb8e"
STACK_TYPE = "pulumi:pulumi:Stack"
GONE_OPS = {"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace"}


class CliJsonError(ValueError):
    """A file that is not the Pulumi CLI JSON it was given as."""


def parse_urn(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, own type, name) of a URN like urn:pulumi:dev::proj::a$b:c/d:E::name."""
    parts = urn.split("::")
    if not urn.startswith("urn:pulumi:") or len(parts) < 4:
        raise CliJsonError(f"{urn!r} is not a Pulumi URN (urn:pulumi:<stack>::<project>::<type>::<name>)")
    stack = parts[0].removeprefix("urn:pulumi:")
    name = "::".join(parts[3:])  # names may themselves contain '::'
    return stack, parts[1], parts[2].split("$")[-1], name


def _value(value: Any) -> Any:
    """Property values as plain JSON: unknowns, secrets, assets and references made explicit."""
    if isinstance(value, str):
        return UNKNOWN if value == ENGINE_UNKNOWN else value
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SIG_SECRET:
            return "[secret]"
        # Content hashes are kept so that a changed handler shows as a changed input.
        if sig == SIG_ASSET:
            return {"asset": value.get("path") or value.get("uri") or "<text>", "hash": value.get("hash")}
        if sig == SIG_ARCHIVE:
            return {"archive": sorted(value.get("assets", {})) or value.get("path"), "hash": value.get("hash")}
        if sig == SIG_RESOURCE_REF:
            return value.get("urn")
        return {k: _value(v) for k, v in value.items() if k != "__defaults"}
    return value


def _provider_urn(reference: str | None) -> str | None:
    if not reference:
        return None
    return reference.rsplit("::", 1)[0]


def _resource(state: dict[str, Any], op: str | None) -> PlannedResource:
    urn = state["urn"]
    _, _, urn_type, name = parse_urn(urn)
    return PlannedResource(
        urn=urn,
        type=state.get("type") or urn_type,
        name=name,
        custom=bool(state.get("custom", False)),
        parent=state.get("parent"),
        provider=_provider_urn(state.get("provider")),
        inputs=_value(state.get("inputs") or {}),
        dependencies=list(state.get("dependencies") or []),
        property_dependencies={k: list(v) for k, v in (state.get("propertyDependencies") or {}).items()},
        op=op,
    )


def _load(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (OSError, json.JSONDecodeError) as exc:
        raise CliJsonError(f"{path}: not readable JSON ({exc}); fix: pass the file the CLI wrote") from exc


def read_preview_json(path: Path, *, before: bool = False) -> Plan:
    """The plan after (default) or before the change described by `pulumi preview --json`."""
    data = _load(path)
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise CliJsonError(
            f"{path}: no 'steps' list, so not `pulumi preview --json` output; "
            "fix: run `pulumi preview --json --show-sames > preview.json`"
        )
    resources: list[PlannedResource] = []
    outputs: dict[str, Any] = {}
    stack = project = ""
    ops: set[str] = set()
    for step in data["steps"]:
        op = step.get("op")
        ops.add(op)
        state = step.get("oldState") if before else step.get("newState")
        if state is None or (not before and op in GONE_OPS):
            continue
        stack, project, _, _ = parse_urn(state.get("urn") or step["urn"])
        state = {"urn": step["urn"], "provider": step.get("provider"), **state}
        if (state.get("type") or parse_urn(state["urn"])[2]) == STACK_TYPE:
            outputs = _value(state.get("outputs") or {})
            continue
        resources.append(_resource(state, op))
    warnings: list[str] = []
    if ops & {"update", "replace", "delete", "create-replacement"} and "same" not in ops:
        warnings.append(
            "the preview has changes but no unchanged ('same') resources: was it run without --show-sames? "
            "Unchanged resources are then missing from this plan and from its cost."
        )
    return Plan(
        project=project,
        stack=stack,
        source="pulumi-preview-before" if before else "pulumi-preview",
        resources=resources,
        outputs=outputs,
        warnings=warnings,
    )


def read_stack_export(path: Path) -> Plan:
    """The deployed state from `pulumi stack export` (deployment format version 3)."""
    data = _load(path)
    deployment = data.get("deployment") if isinstance(data, dict) else None
    if not isinstance(deployment, dict) or "resources" not in deployment:
        raise CliJsonError(
            f"{path}: no 'deployment.resources', so not `pulumi stack export` output; "
            "fix: run `pulumi stack export --file state.json`"
        )
    if data.get("version") != 3:
        raise CliJsonError(f"{path}: deployment version {data.get('version')!r}; this reader knows version 3")
    resources: list[PlannedResource] = []
    outputs: dict[str, Any] = {}
    stack = project = ""
    for state in deployment.get("resources") or []:
        stack, project, own_type, _ = parse_urn(state["urn"])
        if (state.get("type") or own_type) == STACK_TYPE:
            outputs = _value(state.get("outputs") or {})
            continue
        if state.get("delete"):  # pending deletion from an interrupted replace: not part of the stack
            continue
        resources.append(_resource(state, None))
    return Plan(project=project, stack=stack, source="pulumi-export", resources=resources, outputs=outputs)
