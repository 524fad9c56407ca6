"""Hypothesis strategies for chat requests shaped like OpenAI's request schema
(`CreateChatCompletionRequest`, the vendored document 2.3.0): every role's message, every content
part, function and custom tools, tool_choice, the common sampling fields, `stream` true, false or
null. With some probability a piece is broken the way clients break them (a required field
dropped, a value set to null or to another JSON type, an unknown part type), so both valid and
invalid requests come out; the vendored schema is the oracle that says which is which
(tests/runtime/openapi.py), not these strategies.

Sizes are bounded (short strings, at most 3 messages, 2 parts, 2 tools) so a real llama-server can
answer every example quickly.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
WRONG = st.one_of(st.none(), st.integers(-3, 3), st.booleans(), st.just({"x": 1}), st.just(["x"]), st.floats(0, 1))


@st.composite
def broken(draw: st.DrawFn, source: dict[str, Any] | st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """An object (or one drawn from a strategy), possibly with one field dropped, nulled or given a
    value of another JSON type."""
    obj = draw(source) if isinstance(source, st.SearchStrategy) else source
    if not obj or not draw(st.booleans()) or not draw(st.booleans()):  # three in four stay intact
        return obj
    key = draw(st.sampled_from(sorted(obj)))
    out = dict(obj)
    how = draw(st.sampled_from(["drop", "null", "wrong"]))
    if how == "drop":
        del out[key]
    else:
        out[key] = None if how == "null" else draw(WRONG)
    return out


def text_part() -> st.SearchStrategy[dict[str, Any]]:
    return broken(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}))


def _part(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "text":
        return text_part()
    if kind == "image_url":
        inner = st.fixed_dictionaries(
            {"url": st.just("data:image/png;base64,iVBORw0KGgo=")},
            optional={"detail": st.sampled_from(["auto", "low", "high", "max"])},
        )
        return broken(st.fixed_dictionaries({"type": st.just(kind), "image_url": inner}))
    if kind == "input_audio":
        inner = st.fixed_dictionaries({"data": st.just("UklGRg=="), "format": st.sampled_from(["wav", "mp3", "ogg"])})
        return broken(st.fixed_dictionaries({"type": st.just(kind), "input_audio": inner}))
    if kind == "file":
        inner = st.fixed_dictionaries({}, optional={"file_data": st.just("aGk="), "filename": st.just("a.txt")})
        return broken(st.fixed_dictionaries({"type": st.just(kind), "file": inner}))
    if kind == "refusal":
        return broken(st.fixed_dictionaries({"type": st.just(kind), "refusal": TEXT}))
    return st.just({"type": kind})


PART_KINDS = ["text", "image_url", "input_audio", "file", "refusal", "video"]


def content(role: str) -> st.SearchStrategy[Any]:
    parts = st.sampled_from(PART_KINDS if role == "user" else ["text", "refusal", "image_url"]).flatmap(_part)
    return st.one_of(TEXT, st.lists(parts, min_size=0, max_size=2), WRONG)


def tool_call() -> st.SearchStrategy[dict[str, Any]]:
    fn = st.fixed_dictionaries({"name": st.just("lookup"), "arguments": st.just('{"q": "x"}')})
    return broken(st.fixed_dictionaries({"id": st.just("call_1"), "type": st.just("function"), "function": fn}))


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]))
    msg: dict[str, Any] = {"role": role}
    if role == "assistant":
        if draw(st.booleans()):
            msg["content"] = draw(st.one_of(st.none(), content(role)))
        if draw(st.integers(0, 3)) == 0:
            msg["tool_calls"] = draw(st.one_of(st.none(), st.lists(tool_call(), max_size=1)))
        if draw(st.integers(0, 3)) == 0:
            msg["refusal"] = None
    elif role == "function":
        msg["content"] = draw(st.one_of(st.none(), TEXT))
        msg["name"] = "lookup"
    else:
        msg["content"] = draw(content(role))
    if role == "tool":
        msg["tool_call_id"] = "call_1"
    if draw(st.integers(0, 4)) == 0:
        msg["name"] = draw(st.one_of(st.just("alice"), st.none()))
    return draw(broken(msg)) if role != "user" or draw(st.booleans()) else msg


def tool() -> st.SearchStrategy[Any]:
    params = st.one_of(
        st.just({"type": "object", "properties": {"q": {"type": "string"}}}), st.just("not-an-object"), st.none()
    )
    fn = st.fixed_dictionaries({"name": st.just("lookup")}, optional={"description": TEXT, "parameters": params})
    function = st.fixed_dictionaries({"type": st.just("function"), "function": broken(fn)})
    custom = st.fixed_dictionaries({"type": st.just("custom"), "custom": st.just({"name": "grep"})})
    return st.one_of(broken(function), custom, TEXT)


TOOL_CHOICE = st.one_of(
    st.sampled_from(["none", "auto", "required", "always"]),
    st.just({"type": "function", "function": {"name": "lookup"}}),
    st.just({"type": "function"}),
)

OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "stream": st.one_of(st.none(), st.booleans()),
    "temperature": st.one_of(st.none(), st.floats(0, 2), st.just(3)),
    "top_p": st.floats(0, 1),
    "max_tokens": st.integers(1, 2),
    "stop": st.one_of(st.none(), TEXT, st.lists(TEXT, max_size=2)),
    "seed": st.integers(0, 100),
    "n": st.just(1),
    "logprobs": st.booleans(),
    "top_logprobs": st.integers(0, 2),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.floats(-2, 2),
    "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
    "tools": st.one_of(st.lists(tool(), max_size=2), TEXT),
    "tool_choice": TOOL_CHOICE,
    "user": TEXT,
}


@st.composite
def chat_request(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """A chat request for `model` (max_tokens at most 2 unless it is broken), valid or not."""
    body: dict[str, Any] = {"model": model, "messages": draw(st.lists(message(), min_size=1, max_size=3))}
    body.update(draw(st.fixed_dictionaries({}, optional=OPTIONAL)))
    body.setdefault("max_tokens", 2)
    if body.get("stream"):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    return body


def mixed_requests(model: str, accepts: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Half any request, half one the schema accepts (`accepts(body)` is the oracle), so a tier
    also sees many valid requests and not only the router's refusals."""
    return st.one_of(chat_request(model), chat_request(model).filter(accepts))


TOKENS = st.lists(st.integers(0, 1000), min_size=0, max_size=3)
EMBEDDING_INPUT = st.one_of(
    TEXT,
    st.lists(TEXT, min_size=0, max_size=3),
    TOKENS,
    st.lists(TOKENS, min_size=0, max_size=2),
    WRONG,
    st.lists(st.one_of(TEXT, st.integers(0, 9), st.none()), min_size=1, max_size=3),
)


@st.composite
def embeddings_request(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """An embeddings request for `model`, valid or not (OpenAI's `CreateEmbeddingRequest`)."""
    body: dict[str, Any] = {"model": model, "input": draw(EMBEDDING_INPUT)}
    optional = {
        "encoding_format": st.sampled_from(["float", "base64", "int8"]),
        "dimensions": st.integers(0, 4),
        "user": TEXT,
    }
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body
