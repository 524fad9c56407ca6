"""The converter from OpenAI's OpenAPI schemas to JSON Schema (tests/runtime/openapi.py) and the
vendored document it reads."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from tests.runtime.openapi import spec_version, to_json_schema, validator, violations


def _ok(schema: object, instance: object) -> bool:
    return Draft202012Validator(to_json_schema(schema)).is_valid(instance)  # type: ignore[arg-type]


def test_nullable_next_to_a_type_admits_null_and_still_checks_the_type() -> None:
    schema = {"type": "string", "nullable": True}
    assert _ok(schema, None), "nullable: true admits null"
    assert _ok(schema, "x"), "the type itself is still admitted"
    assert not _ok(schema, 5), "another type is still refused"
    assert not _ok({"type": "string"}, None), "without nullable, null is refused"


def test_a_nullable_enum_admits_null_but_no_other_value() -> None:
    schema = {"type": "string", "enum": ["stop", "length"], "nullable": True}
    assert _ok(schema, None), "null joins the enum"
    assert _ok(schema, "stop"), "enum members stay valid"
    assert not _ok(schema, "other"), "a value outside the enum is still refused"


def test_a_nullable_reference_becomes_any_of_the_reference_or_null() -> None:
    converted = to_json_schema({"$ref": "#/components/schemas/X", "nullable": True})
    assert converted == {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}]}, f"wrapped: {converted}"


def test_a_property_named_nullable_or_type_is_not_taken_for_a_keyword() -> None:
    schema = {"type": "object", "properties": {"nullable": {"type": "boolean"}, "type": {"type": "string"}}}
    converted = to_json_schema(schema)
    assert converted["properties"]["nullable"] == {"type": "boolean"}, "a property schema is kept as is"
    assert not _ok(schema, {"type": None}), "the property called type still refuses null"


def test_nested_nullable_schemas_in_items_and_combinators_are_converted() -> None:
    schema = {"type": "array", "items": {"anyOf": [{"type": "integer", "nullable": True}]}}
    assert _ok(schema, [1, None]), "nullable inside items/anyOf admits null"
    assert not _ok(schema, ["x"]), "and still refuses a string"


def test_the_vendored_document_is_version_2_3_0_and_every_root_schema_compiles() -> None:
    assert spec_version() == "2.3.0", "the vendored document is the version the conformance tests name"
    for name in ("CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ErrorResponse", "Model"):
        assert validator(name) is not None, f"{name} compiles as JSON Schema 2020-12"


def test_the_stream_schema_needs_the_conversion_for_a_null_finish_reason() -> None:
    chunk = {
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }  # fmt: skip
    assert violations("CreateChatCompletionStreamResponse", chunk) == [], "a null finish_reason is valid"
    chunk["choices"][0]["finish_reason"] = "bogus"  # type: ignore[index]
    assert violations("CreateChatCompletionStreamResponse", chunk), "an unknown finish_reason is refused"


def test_an_error_whose_code_is_an_integer_is_refused_by_the_error_schema() -> None:
    body = {"error": {"message": "m", "type": "server_error", "param": None, "code": 500}}
    assert violations("ErrorResponse", body), "code must be a string or null"
    body["error"]["code"] = "x"
    assert violations("ErrorResponse", body) == [], "a string code is valid"
