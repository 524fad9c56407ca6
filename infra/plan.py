"""The plan: every resource a stack declares (type, name, parent, provider, inputs), as one model.

This is the seam between the Pulumi program and everything that reads it (cost preview, policy
pack, `frugal plan`). It is filled by the offline run (`infra.offline`), by the readers of
`pulumi preview --json` and `pulumi stack export` (`infra.readers`), and by the program's own
recording of its registrations (`infra.registrations`); none of its readers import the program's
components. Pure: no Pulumi import. The one marker of a value not known yet (`UNKNOWN`,
`is_unknown`) lives here; the type tokens in `infra.tokens`.

JSON schema `frugal.plan/v1` (stable; additive changes only):
{
  "schema": "frugal.plan/v1",
  "project": "frugal-llm", "stack": "dev",
  "source": "offline" | "pulumi-preview" | "pulumi-export",
  "resources": [
    {"urn": str, "type": "aws:ec2/vpc:Vpc", "name": "net-vpc", "custom": bool,
     "parent": urn | null, "provider": urn | null, "inputs": {camelCase wire names: values},
     "dependencies": [urn], "property_dependencies": {input name: [urn]},
     "op": null | "create" | "same" | "update" | "replace" | ... (the CLI step, for preview plans)}
  ],
  "outputs": {stack output name: value},
  "warnings": [str]
}
Offline ids and computed values are placeholders ending in "-offline" (no cloud was asked); values
the CLI reports as not yet known are the string "<unknown>", secrets "[secret]".
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

SCHEMA: Final = "frugal.plan/v1"

UNKNOWN = "<unknown>"
"""How a plan writes a value that is not known yet (during a preview, before the resource exists)."""
ENGINE_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The Pulumi engine's own sentinel for the same, as `pulumi preview --json` prints it."""


def is_unknown(value: object) -> bool:
    """True for a value the engine did not know yet, in either spelling."""
    return isinstance(value, str) and value in (UNKNOWN, ENGINE_UNKNOWN)


class PlannedResource(BaseModel):
    model_config = ConfigDict(frozen=True)

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None = None
    provider: str | None = None
    inputs: dict[str, Any] = {}
    dependencies: list[str] = []
    property_dependencies: dict[str, list[str]] = {}
    op: str | None = None

    @property
    def is_component(self) -> bool:
        return not self.custom and not self.type.startswith("pulumi:")


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_: Literal["frugal.plan/v1"] = SCHEMA
    project: str
    stack: str
    source: Literal["offline", "pulumi-preview", "pulumi-preview-before", "pulumi-export"]
    resources: list[PlannedResource]
    outputs: dict[str, Any] = {}
    warnings: list[str] = []

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self, urn: str) -> PlannedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["schema"] = data.pop("schema_")
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Plan:
        data = dict(data)
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} plan (schema={data.get('schema')!r})")
        data["schema_"] = data.pop("schema")
        return cls.model_validate(data)
