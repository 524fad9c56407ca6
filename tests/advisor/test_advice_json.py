"""The frugal.advice/v1 document: stable (golden file) and described by infra/advisor/advice.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.advisor.advice import SCHEMA, advice_dict, advise
from infra.advisor.families import family

GOLDEN = Path(__file__).parent / "golden"
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "infra" / "advisor" / "advice.schema.json"
TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}


def violations(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> list[str]:
    """The subset of JSON Schema the document uses: type, const, required, properties, additionalProperties,
    items and local $ref. Enough to catch an undocumented, missing or mistyped field."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return violations(value, {**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root, where)
    if "const" in schema:
        return [] if value == schema["const"] else [f"{where}: {value!r} != {schema['const']!r}"]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if value is None:
            return [] if "null" in kinds else [f"{where}: null not allowed"]
        ok = any(isinstance(value, TYPES[k]) and not (k in ("integer", "number") and isinstance(value, bool))
                 for k in kinds if k != "null")  # fmt: skip
        if not ok:
            return [f"{where}: {type(value).__name__} is not {kinds}"]
    out = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                out += violations(v, props[k], root, f"{where}.{k}")
            elif extra is False:
                out.append(f"{where}: {k} is not in the schema")
            elif isinstance(extra, dict):
                out += violations(v, extra, root, f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            out += violations(item, schema["items"], root, f"{where}[{n}]")
    return out


def _doc() -> dict[str, Any]:
    return advice_dict(advise(family("llama-3-8b"), ctx_per_slot=4096, parallel=8, max_kld=0.05))


def test_the_document_matches_its_reviewed_golden_file(update_golden: bool) -> None:
    text = json.dumps(_doc(), indent=2) + "\n"
    path = GOLDEN / "llama-3-8b-ctx4096-parallel8-kld0.05.json"
    if update_golden:
        path.write_text(text)
    assert path.is_file(), f"{path} is missing; create it with `pytest tests/advisor --update-golden` and review it"
    assert text == path.read_text(), "frugal.advice/v1 output changed; review the diff and run --update-golden"


def test_the_document_is_valid_against_the_published_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    doc = _doc()
    assert doc["schema"] == SCHEMA == schema["$id"], "the document names its schema"
    assert violations(doc, schema, schema) == [], "every field is documented, present and of its type"
    assert doc["options"] and doc["does_not_fit"], "the example exercises both lists"


def test_the_validator_catches_an_undocumented_field_and_a_wrong_type() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    doc = _doc()
    doc["surprise"] = 1
    doc["options"][0]["servers"] = "one"
    found = violations(doc, schema, schema)
    assert "$: surprise is not in the schema" in found, found
    assert any(f.startswith("$.options[0].servers") for f in found), found


def test_options_in_the_document_say_which_figures_are_scaled_and_from_what() -> None:
    doc = _doc()
    top = doc["options"][0]
    tps = top["tokens_per_s"]
    assert tps["single_stream"]["low"] <= tps["single_stream"]["central"] <= tps["single_stream"]["high"], "a range"
    assert "FlashAttention" in tps["single_stream_proxy"], "names the measured run it was scaled from"
    assert "H200" in doc["method"]["speed_source"] and "2026-11-28" in doc["method"]["speed_source"], "dated source"
    assert doc["method"]["prices"]["on_demand"]["as_of"], "prices carry their date"
    lo, hi = top["usd_per_million_output_tokens"]["on_demand_range"]
    assert float(lo) <= float(top["usd_per_million_output_tokens"]["on_demand"]) <= float(hi), "central within range"
