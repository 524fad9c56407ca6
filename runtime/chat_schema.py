"""A chat request's messages, content parts and tools, checked against OpenAI's request schema
(`CreateChatCompletionRequest`, OpenAPI document 2.3.0) before anything reaches a tier.

Why here and not upstream: llama-server answers many of these mistakes with HTTP 500 (a text part
without `text`, `name: null`, tools it cannot parse), which would look like a failing tier. Each
rule below is the schema's, with one leniency: an assistant message echoed back from a response
(as OpenAI's SDKs serialise it) carries `tool_calls: null`, which is accepted as absent, like its
`function_call`, `audio` and `refusal` nulls that the schema allows (llama-server also takes it).
Unknown fields are kept, as for the rest of the body.

Every error is an InvalidRequest (400) whose `param` is the JSON path of the bad value.
"""

from __future__ import annotations

from typing import Any

from runtime.errors import InvalidRequest

PARTS_BY_ROLE: dict[str, frozenset[str]] = {
    "system": frozenset({"text"}),
    "developer": frozenset({"text"}),
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal"}),
    "tool": frozenset({"text"}),
}
"""Content part types each role may send (the schema's `...MessageContentPart` unions)."""

MEDIA_OF_PART = {"image_url": "image", "input_audio": "audio"}
"""Part types that need a tier able to take that input (TierState.input_modalities)."""

STRING_FIELDS: dict[str, frozenset[str]] = {
    "name": frozenset({"system", "developer", "user", "assistant", "function"}),
    "tool_call_id": frozenset({"tool"}),
    "reasoning_content": frozenset(),
}
"""Message fields llama-server reads as strings on any role, and the roles whose schema defines
them. On another role the schema allows them as unknown fields: `null` is dropped before the
request is forwarded (llama-server answers it with a 500), another non-string is a 400."""

_IMAGE_DETAIL = ("auto", "low", "high")
_AUDIO_FORMATS = ("wav", "mp3")
_TOOL_CHOICE_WORDS = ("none", "auto", "required")


def _kind(value: Any) -> str:
    return (
        "null"
        if value is None
        else {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
    )


def _need(ok: bool, param: str, what: str, value: Any) -> None:
    if not ok:
        shown = repr(value) if not isinstance(value, dict | list) else _kind(value)
        raise InvalidRequest(f"invalid field {param}: expected {what}, got {shown}", param=param)


def _string(obj: dict[str, Any], key: str, param: str, *, required: bool, nullable: bool = False) -> None:
    if key not in obj:
        if required:
            raise InvalidRequest(f"missing required field {param}.{key}", param=f"{param}.{key}")
        return
    value = obj[key]
    _need(isinstance(value, str) or (nullable and value is None), f"{param}.{key}", "a string", value)


def _object(obj: dict[str, Any], key: str, param: str, *, required: bool, nullable: bool = False) -> dict[str, Any]:
    """obj[key] as a dict ({} when absent or an allowed null)."""
    if key not in obj:
        if required:
            raise InvalidRequest(f"missing required field {param}.{key}", param=f"{param}.{key}")
        return {}
    value = obj[key]
    if value is None and nullable:
        return {}
    _need(isinstance(value, dict), f"{param}.{key}", "an object", value)
    return value  # type: ignore[no-any-return]


def _enum(obj: dict[str, Any], key: str, param: str, allowed: tuple[str, ...], *, required: bool) -> None:
    if key not in obj and not required:
        return
    value = obj.get(key)
    _need(value in allowed, f"{param}.{key}", "one of " + ", ".join(allowed), value)


def _part(part: Any, role: str, param: str) -> None:
    _need(isinstance(part, dict), param, "a content part object", part)
    kind = part.get("type")
    allowed = PARTS_BY_ROLE[role]
    if kind not in allowed:
        raise InvalidRequest(
            f"invalid field {param}.type: a {role} message's content parts are "
            f"{', '.join(sorted(allowed))}; got {kind!r}",
            param=f"{param}.type",
        )
    if kind == "text":
        _string(part, "text", param, required=True)
    elif kind == "refusal":
        _string(part, "refusal", param, required=True)
    elif kind == "image_url":
        image = _object(part, "image_url", param, required=True)
        _string(image, "url", f"{param}.image_url", required=True)
        _enum(image, "detail", f"{param}.image_url", _IMAGE_DETAIL, required=False)
    elif kind == "input_audio":
        audio = _object(part, "input_audio", param, required=True)
        _string(audio, "data", f"{param}.input_audio", required=True)
        _enum(audio, "format", f"{param}.input_audio", _AUDIO_FORMATS, required=True)
    elif kind == "file":
        file = _object(part, "file", param, required=True)
        for key in ("file_data", "file_id", "filename"):
            _string(file, key, f"{param}.file", required=False)


def _content(msg: dict[str, Any], role: str, param: str) -> None:
    required = role not in ("assistant",)
    if "content" not in msg:
        if required:
            raise InvalidRequest(
                f"missing required field {param}.content: a {role} message needs content", param=f"{param}.content"
            )
        return
    content = msg["content"]
    if content is None and (role == "assistant" or role == "function"):
        return
    if role == "function":
        _need(isinstance(content, str), f"{param}.content", "a string or null", content)
        return
    _need(isinstance(content, str | list), f"{param}.content", "a string or an array of content parts", content)
    if isinstance(content, list):
        _need(len(content) > 0, f"{param}.content", "at least one content part", "[]")
        for j, part in enumerate(content):
            _part(part, role, f"{param}.content[{j}]")


def _tool_call(call: Any, param: str) -> None:
    _need(isinstance(call, dict), param, "a tool call object", call)
    _string(call, "id", param, required=True)
    kind = call.get("type")
    if kind == "function":
        fn = _object(call, "function", param, required=True)
        _string(fn, "name", f"{param}.function", required=True)
        _string(fn, "arguments", f"{param}.function", required=True)
    elif kind == "custom":
        custom = _object(call, "custom", param, required=True)
        _string(custom, "name", f"{param}.custom", required=True)
        _string(custom, "input", f"{param}.custom", required=True)
    else:
        _need(False, f"{param}.type", "function or custom", kind)


def _message(msg: dict[str, Any], param: str) -> None:
    role = msg["role"]  # pydantic checked it is one of the schema's roles
    _content(msg, role, param)
    for key, roles in STRING_FIELDS.items():
        if key in msg and role not in roles:
            if msg[key] is None:
                del msg[key]  # the schema has no such field here; null is absence, llama-server would 500
            else:
                _need(isinstance(msg[key], str), f"{param}.{key}", "a string (its type on every role)", msg[key])
    _string(msg, "name", param, required=role == "function")
    if role == "tool":
        _string(msg, "tool_call_id", param, required=True)
    if role != "assistant":
        return
    _string(msg, "refusal", param, required=False, nullable=True)
    calls = msg.get("tool_calls")
    if calls is not None:
        _need(isinstance(calls, list), f"{param}.tool_calls", "an array of tool calls", calls)
        for j, call in enumerate(calls):
            _tool_call(call, f"{param}.tool_calls[{j}]")
    fc = _object(msg, "function_call", param, required=False, nullable=True)
    if fc:
        _string(fc, "name", f"{param}.function_call", required=True)
        _string(fc, "arguments", f"{param}.function_call", required=True)
    audio = _object(msg, "audio", param, required=False, nullable=True)
    if audio:
        _string(audio, "id", f"{param}.audio", required=True)


def _tool(tool: Any, param: str) -> None:
    _need(isinstance(tool, dict), param, "a tool object", tool)
    kind = tool.get("type")
    if kind == "function":
        fn = _object(tool, "function", param, required=True)
        _string(fn, "name", f"{param}.function", required=True)
        _string(fn, "description", f"{param}.function", required=False)
        if "parameters" in fn:
            _need(
                isinstance(fn["parameters"], dict),
                f"{param}.function.parameters",
                "a JSON Schema object",
                fn["parameters"],
            )
        if "strict" in fn:
            _need(
                fn["strict"] is None or isinstance(fn["strict"], bool),
                f"{param}.function.strict",
                "a boolean",
                fn["strict"],
            )
    elif kind == "custom":
        custom = _object(tool, "custom", param, required=True)
        _string(custom, "name", f"{param}.custom", required=True)
        _string(custom, "description", f"{param}.custom", required=False)
    else:
        _need(False, f"{param}.type", "function or custom", kind)


def _tool_choice(choice: Any) -> None:
    if isinstance(choice, str):
        _need(choice in _TOOL_CHOICE_WORDS, "tool_choice", "none, auto, required or an object", choice)
        return
    _need(isinstance(choice, dict), "tool_choice", "none, auto, required or an object", choice)
    kind = choice.get("type")
    if kind in ("function", "custom"):
        named = _object(choice, kind, "tool_choice", required=True)
        _string(named, "name", f"tool_choice.{kind}", required=True)
    elif kind == "allowed_tools":
        allowed = _object(choice, "allowed_tools", "tool_choice", required=True)
        _enum(allowed, "mode", "tool_choice.allowed_tools", ("auto", "required"), required=True)
        tools = allowed.get("tools")
        _need(isinstance(tools, list), "tool_choice.allowed_tools.tools", "an array of tool objects", tools)
    else:
        _need(False, "tool_choice.type", "function, custom or allowed_tools", kind)


def check_chat(payload: dict[str, Any]) -> None:
    """Raise InvalidRequest for the first part of a chat request OpenAI's schema refuses (messages,
    content parts, tools, tool_choice); the top-level field types were checked by pydantic. The
    one change made to `payload`: nulls of STRING_FIELDS on roles that do not define them are
    removed."""
    for i, msg in enumerate(payload["messages"]):
        _message(msg, f"messages[{i}]")
    if "tools" in payload:
        tools = payload["tools"]
        _need(isinstance(tools, list), "tools", "an array of tools", tools)
        for j, tool in enumerate(tools):
            _tool(tool, f"tools[{j}]")
    if "tool_choice" in payload:
        _tool_choice(payload["tool_choice"])


def input_media(messages: list[dict[str, Any]]) -> frozenset[str]:
    """The non-text inputs a (validated) conversation carries: a subset of {"image", "audio"}."""
    found: set[str] = set()
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            found.update(MEDIA_OF_PART[p["type"]] for p in content if p.get("type") in MEDIA_OF_PART)
    return frozenset(found)
