"""OpenAI's published component schemas (tests/runtime/openai_spec/components.json) as JSON Schema
validators, offline.

The document is OpenAPI 3.1 (JSON Schema 2020-12), but some schemas still use OpenAPI 3.0's
`nullable: true`, which JSON Schema ignores: a validator fed them verbatim would refuse a `null`
the spec allows (a stream chunk's `finish_reason`). `to_json_schema` converts a schema:

- `nullable: true` next to `type` adds "null" to the type (and `null` to an `enum`); next to no
  type (`$ref`, `anyOf`, `allOf`) the schema becomes `anyOf: [schema, {type: null}]`;
- `#/components/schemas/X` references become `#/$defs/X`, and every component is put in `$defs`.

Keyword positions are tracked, so a property that happens to be called `nullable` or `type` is
left alone.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC = Path(__file__).with_name("openai_spec") / "components.json"
_REF = "#/components/schemas/"
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "not", "additionalProperties", "contains", "if", "then", "else", "propertyNames")


def to_json_schema(schema: Any) -> Any:
    """One OpenAPI schema object as a JSON Schema 2020-12 schema (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema  # `true`/`false` schemas
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            out[key] = "#/$defs/" + value[len(_REF) :]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if schema.get("nullable") is not True:
        return out
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"] if "null" not in types else types
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [out, {"type": "null"}]}


@functools.cache
def _components() -> dict[str, Any]:
    doc = json.loads(SPEC.read_text())
    schemas: dict[str, Any] = doc["components"]["schemas"]
    return {name: to_json_schema(s) for name, s in schemas.items()}


def spec_version() -> str:
    return str(json.loads(SPEC.read_text())["info"]["version"])


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A validator for component `name`, with every other component resolvable by reference."""
    defs = _components()
    if name not in defs:
        raise KeyError(f"{name!r} is not vendored in {SPEC}; add it to openai_spec/extract.py ROOTS")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"#/$defs/{name}", "$defs": defs}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def violations(name: str, instance: Any) -> list[str]:
    """Every way `instance` breaks component `name`, as `path: message` lines ([] when it conforms)."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors]
