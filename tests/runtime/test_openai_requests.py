"""Requests as OpenAI's API takes them: malformed ones are the client's 400, checked before any tier
is called, and never count against a tier; what OpenAI accepts (`stream: null`, GET
/v1/models/{id}) works; errors carry OpenAI's types and string codes. In process, fake tiers; the
llama-server error bodies below are what a real llama-server answered to the same requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.routing import CLOSED
from tests.runtime.conftest import config, remote_tier
from tests.runtime.inprocess import InProcessLlama, in_process

pytestmark = pytest.mark.anyio

HI = [{"role": "user", "content": "Hi"}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "AA", "format": "ogg"}}

MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "a message with name null": ({"messages": [{"role": "user", "content": "x", "name": None}]}, "messages[0].name"),
    "a text part without text": (
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        "messages[0].content[0].text",
    ),
    "a tool without a function name": (
        {"messages": HI, "tools": [{"type": "function", "function": {}}]},
        "tools[0].function.name",
    ),
    "tools that are a string": ({"messages": HI, "tools": "x"}, "tools"),
    "tools that are a list of strings": ({"messages": HI, "tools": ["x"]}, "tools[0]"),
    "an image in a system message": (
        {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]},
        "messages[0].content[0].type",
    ),
    "a tool message without tool_call_id": (
        {"messages": [{"role": "tool", "content": "r"}]},
        "messages[0].tool_call_id",
    ),
    "a tool call without a type": (
        {"messages": [*HI, {"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]}]},
        "messages[1].tool_calls[0].type",
    ),
    "an empty content array": ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
    "a user message with null content": ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    "an unknown tool_choice": ({"messages": HI, "tool_choice": "xyz"}, "tool_choice"),
    "an audio part with an unknown format": (
        {"messages": [{"role": "user", "content": [AUDIO]}]},
        "messages[0].content[0].input_audio.format",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_chat_request_is_a_400_naming_the_field_and_no_tier_is_called(
    case: str, llama: InProcessLlama, tmp_path: Path
) -> None:
    body, param = MALFORMED[case]
    async with in_process(
        config([remote_tier("t", llama.url, prompt="0.01", completion="0.01")], tmp_path), llama
    ) as r:
        resp = await r.client.post("/v1/chat/completions", json={"model": "t", **body})
    assert resp.status_code == 400, f"{case}: the client's error ({resp.status_code} {resp.text})"
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param, f"{case}: names {param}: {err}"
    assert llama.requests == [], f"{case}: validated before any upstream call"


@pytest.mark.parametrize("text", [5, 1.5, {"a": 1}, ["x"], True])
async def test_a_deterministic_request_with_a_non_string_text_part_is_a_400_not_a_500(
    text: Any, llama: InProcessLlama, tmp_path: Path
) -> None:
    # temperature 0 makes the request cacheable, so the cache key is built from the content
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}], "temperature": 0}
    async with in_process(
        config([remote_tier("t", llama.url, prompt="0.01", completion="0.01")], tmp_path), llama
    ) as r:
        resp = await r.client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 400, f"text={text!r}: a 400, not a crash in the cache key ({resp.text})"
    assert resp.json()["error"]["param"] == "messages[0].content[0].text", "the bad field is named"


async def test_malformed_requests_never_open_a_circuit_and_good_ones_still_pass(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    settings = config(
        [remote_tier("t", llama.url, prompt="0.01", completion="0.01")],
        tmp_path,
        routing={"circuit_failures": 3, "circuit_cooldown_s": 60},
    )
    async with in_process(settings, llama) as r:
        for case in sorted(MALFORMED):
            await r.client.post("/v1/chat/completions", json={"model": "t", **MALFORMED[case][0]})
        breaker = r.rt.tiers["t"].breaker
        ok = await r.client.post("/v1/chat/completions", json={"model": "t", "messages": HI})
    assert breaker.state == CLOSED and breaker.consecutive == 0, "client errors are not tier failures"
    assert ok.status_code == 200, f"every tenant can still use the tier: {ok.text}"


LLAMA_UNSUPPORTED_TOOL = {
    "error": {
        "code": 500,
        "message": 'Failed to parse tools: Unsupported tool type: {"type":"custom","custom":{"name":"f"}}; tools = []',
        "type": "server_error",
    }
}
LLAMA_NO_IMAGES = {
    "error": {
        "code": 500,
        "message": "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
        "type": "server_error",
    }
}


@pytest.mark.parametrize("reply", [LLAMA_UNSUPPORTED_TOOL, LLAMA_NO_IMAGES], ids=["custom-tool", "image"])
@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_500_that_could_not_read_the_request_is_a_400_without_fallback_or_breaker_count(
    reply: dict[str, Any], stream: bool, llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tiers = [
        remote_tier("a", llama.url, prompt="0.01", completion="0.01", fallbacks=["b"]),
        remote_tier("b", llama2.url, prompt="0.02", completion="0.02"),
    ]
    llama.reply = (500, reply)
    body = {
        "model": "a", "stream": stream,
        "messages": [{"role": "user", "content": [IMAGE]}],
        "tools": [{"type": "custom", "custom": {"name": "f"}}],
    }  # fmt: skip
    settings = config(tiers, tmp_path, routing={"circuit_failures": 1, "circuit_cooldown_s": 60})
    async with in_process(settings, llama, llama2) as r:
        resp = await r.client.post("/v1/chat/completions", json=body)
        breaker = r.rt.tiers["a"].breaker
    assert resp.status_code == 400, f"the request's fault, answered as such ({resp.status_code} {resp.text})"
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and isinstance(err["code"], str), f"OpenAI's shape: {err}"
    assert err["message"] == reply["error"]["message"], "the upstream's explanation reaches the client"
    assert llama2.requests == [], "no fallback: another tier would be sent the same unreadable request"
    assert breaker.state == CLOSED, "one such request with circuit_failures=1 would have opened it if counted"


async def test_a_genuine_upstream_500_still_counts_against_the_tier(llama: InProcessLlama, tmp_path: Path) -> None:
    llama.reply = (500, {"error": {"code": 500, "message": "failed to decode the batch", "type": "server_error"}})
    settings = config(
        [remote_tier("a", llama.url, prompt="0.01", completion="0.01")],
        tmp_path,
        routing={"circuit_failures": 1, "circuit_cooldown_s": 60},
    )
    async with in_process(settings, llama) as r:
        resp = await r.client.post("/v1/chat/completions", json={"model": "a", "messages": HI})
        state = r.rt.tiers["a"].breaker.state
    assert resp.status_code == 502, f"a failure of the tier itself stays a 502 ({resp.text})"
    assert state != CLOSED, "and opens the circuit"


async def test_an_image_for_a_text_only_tier_is_refused_before_the_upstream_and_auto_picks_a_reader(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tiers = [
        remote_tier("text", llama.url, prompt="0.01", completion="0.01", input_modalities=["text"]),
        remote_tier("vision", llama2.url, prompt="0.1", completion="0.1", input_modalities=["text", "image"]),
    ]
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    async with in_process(config(tiers, tmp_path), llama, llama2) as r:
        named = await r.client.post("/v1/chat/completions", json={"model": "text", "messages": image})
        auto = await r.client.post("/v1/chat/completions", json={"model": "auto", "messages": image})
    assert named.status_code == 400, f"a text-only tier cannot read an image: {named.text}"
    assert named.json()["error"]["code"] == "unsupported_input", "the code says why"
    assert llama.requests == [], "the text-only tier was never called"
    assert auto.status_code == 200 and auto.headers["x-frugal-tier"] == "vision", (
        "auto skips the tier that cannot read it"
    )


async def test_auto_with_an_image_and_no_tier_that_reads_images_is_a_400(llama: InProcessLlama, tmp_path: Path) -> None:
    tiers = [remote_tier("text", llama.url, prompt="0.01", completion="0.01", input_modalities=["text"])]
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]
    async with in_process(config(tiers, tmp_path), llama) as r:
        resp = await r.client.post("/v1/chat/completions", json={"messages": audio})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "unsupported_input", resp.text
    assert llama.requests == [], "no tier was called"


async def test_an_embeddings_tier_is_never_in_a_chat_chain(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tiers = [
        remote_tier("emb", llama.url, prompt="0.0001", completion="0", embeddings=True),
        remote_tier("chat", llama2.url, prompt="0.01", completion="0.01"),
        remote_tier("chat2", llama2.url, prompt="0.02", completion="0.02", fallbacks=["emb"]),
    ]
    async with in_process(config(tiers, tmp_path), llama, llama2) as r:
        auto = await r.client.post("/v1/chat/completions", json={"messages": HI})
        named = await r.client.post("/v1/chat/completions", json={"model": "emb", "messages": HI})
        llama2.mode = "500"
        failing = await r.client.post("/v1/chat/completions", json={"model": "chat2", "messages": HI})
    assert auto.headers["x-frugal-tier"] == "chat", "auto never picks the (cheapest) embeddings tier for chat"
    assert named.status_code == 400 and named.json()["error"]["param"] == "model", f"named: {named.text}"
    assert failing.status_code == 502, "chat2 failed and its configured fallback emb was not tried"
    assert llama.requests == [], "the embeddings tier never saw a chat request"


async def test_stream_null_is_a_non_streaming_request(llama: InProcessLlama, tmp_path: Path) -> None:
    async with in_process(
        config([remote_tier("t", llama.url, prompt="0.01", completion="0.01")], tmp_path), llama
    ) as r:
        resp = await r.client.post("/v1/chat/completions", json={"messages": HI, "stream": None})
    assert resp.status_code == 200, f"stream is nullable in OpenAI's schema: {resp.text}"
    assert resp.json()["object"] == "chat.completion", "null means not streamed"


async def test_one_model_is_retrieved_by_id_and_an_unknown_id_is_an_openai_404(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    settings = config(
        [remote_tier("small.v1", llama.url, prompt="0.01", completion="0.01")], tmp_path, aliases={"gpt-4o": "auto"}
    )
    async with in_process(settings, llama) as r:
        tier = await r.client.get("/v1/models/small.v1")
        alias = await r.client.get("/v1/models/gpt-4o")
        missing = await r.client.get("/v1/models/nope")
    assert tier.status_code == 200 and tier.json()["id"] == "small.v1", f"a tier by id: {tier.text}"
    assert alias.json()["frugal"] == {"kind": "alias", "target": "auto"}, "an alias by id"
    assert missing.status_code == 404, "an unknown id is a 404"
    assert missing.json()["error"]["code"] == "model_not_found", f"OpenAI's code: {missing.text}"


async def test_a_wrong_method_is_a_405_with_an_honest_code_and_the_allowed_methods(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    async with in_process(
        config([remote_tier("t", llama.url, prompt="0.01", completion="0.01")], tmp_path), llama
    ) as r:
        resp = await r.client.get("/v1/chat/completions")
    err = resp.json()["error"]
    assert resp.status_code == 405 and err["code"] == "method_not_allowed", f"not internal_error: {err}"
    assert err["type"] == "invalid_request_error" and "POST" in err["message"], "says what to use instead"
    assert resp.headers.get("allow") == "POST", "the Allow header a 405 must carry"


LLAMA_CONTEXT = {
    "error": {
        "code": 400,
        "message": "request (3024 tokens) exceeds the available context size (1024 tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 3024,
        "n_ctx": 1024,
    }
}


async def test_an_over_long_prompt_is_context_length_exceeded_with_openai_types(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    llama.reply = (400, LLAMA_CONTEXT)
    async with in_process(
        config([remote_tier("t", llama.url, prompt="0.01", completion="0.01")], tmp_path), llama
    ) as r:
        resp = await r.client.post("/v1/chat/completions", json={"messages": HI})
    err = resp.json()["error"]
    assert resp.status_code == 400, resp.text
    assert err == {
        "message": LLAMA_CONTEXT["error"]["message"],
        "type": "invalid_request_error",
        "param": None,
        "code": "context_length_exceeded",
    }, f"llama-server's integer code and own type are normalised: {err}"


async def test_a_null_name_on_a_tool_message_is_dropped_not_forwarded(llama: InProcessLlama, tmp_path: Path) -> None:
    # a tool message has no `name` in the schema, so the null is an allowed unknown field; a real
    # llama-server answers it with HTTP 500 ("type must be string, but is null")
    messages = [*HI, {"role": "tool", "content": "r", "tool_call_id": "call_1", "name": None}]
    async with in_process(
        config([remote_tier("t", llama.url, prompt="0.01", completion="0.01")], tmp_path), llama
    ) as r:
        resp = await r.client.post("/v1/chat/completions", json={"messages": messages})
        wrong = await r.client.post("/v1/chat/completions", json={"messages": [{**HI[0], "tool_call_id": 5}]})
    assert resp.status_code == 200, f"the schema accepts it: {resp.text}"
    assert "name" not in llama.requests[0]["messages"][1], "the null is not forwarded"
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "messages[0].tool_call_id", wrong.text


@pytest.mark.parametrize("bad", [[], [[]], ["a", 5], None, {"text": "a"}, ["a"] * 2049])
async def test_embeddings_input_the_schema_refuses_is_a_400_before_any_tier(
    bad: Any, llama: InProcessLlama, tmp_path: Path
) -> None:
    tiers = [remote_tier("emb", llama.url, prompt="0.01", completion="0", embeddings=True)]
    async with in_process(config(tiers, tmp_path), llama) as r:
        resp = await r.client.post("/v1/embeddings", json={"model": "emb", "input": bad})
    assert resp.status_code == 400, f"input={str(bad)[:40]}: refused ({resp.status_code} {resp.text[:200]})"
    err = resp.json()["error"]
    assert err["param"] == "input" and "1 to 2048" in err["message"], f"says what input may be: {err}"
    assert llama.requests == [], "validated before any upstream call"
