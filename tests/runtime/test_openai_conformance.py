"""Every body the router sends, validated against OpenAI's published component schemas (the vendored
OpenAPI document 2.3.0, tests/runtime/openai_spec): whole answers, every chunk of streams with and
without include_usage, cache replays, /v1/models, /v1/models/{id}, embeddings, and every error the
router produces. In process; the tier's answers are a real llama-server's where it matters
(tests/runtime/data/llama_server_answers.json), the real server itself is in test_real_llama.py."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench.exact_cache import ExactMemoryCache
from runtime.cache.protocol import CachedResponse
from runtime.openai_shape import ChatShape
from runtime.routing import OPEN
from tests.runtime.conftest import KEY_A, config, remote_tier
from tests.runtime.inprocess import InProcessLlama, in_process
from tests.runtime.openapi import violations

pytestmark = pytest.mark.anyio

LLAMA = json.loads((Path(__file__).parent / "data" / "llama_server_answers.json").read_text())
GGUF = "/root/.cache/frugal/models/gemma-3-270m-q4_k_m.gguf"
HI = [{"role": "user", "content": "Hi"}]
AUTH = {"authorization": f"Bearer {KEY_A}"}


def conforms(name: str, body: Any) -> None:
    problems = violations(name, body)
    assert problems == [], f"not a valid {name}: {problems}\n{json.dumps(body)[:800]}"


def sse_data(raw: bytes) -> list[Any]:
    """The JSON of every `data:` event but [DONE], in order."""
    out = []
    for event in raw.split(b"\n\n"):
        if event.startswith(b"data: ") and event != b"data: [DONE]":
            out.append(orjson.loads(event[6:]))
    return out


def stream_conforms(raw: bytes, model: str) -> list[dict[str, Any]]:
    chunks = sse_data(raw)
    assert chunks, "the stream has chunks"
    for c in chunks:
        conforms("CreateChatCompletionStreamResponse", c)
        assert c["model"] == model, f"every chunk names {model!r}: {c['model']!r}"
    assert len({c["created"] for c in chunks}) == 1, f"one timestamp per stream: {[c['created'] for c in chunks]}"
    assert len({c["id"] for c in chunks}) == 1, "one id per stream"
    return chunks


def _tiers(llama: InProcessLlama) -> list[dict[str, Any]]:
    return [remote_tier("small", llama.url, prompt="0.01", completion="0.02")]


async def test_a_real_llama_server_answer_leaves_the_router_valid_and_named_by_the_asked_model(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    raw = copy.deepcopy(LLAMA["completion"])
    assert violations("CreateChatCompletionResponse", raw), "llama-server's own answer breaks the schema"
    llama.reply = (200, raw)
    settings = config(_tiers(llama), tmp_path, aliases={"gpt-4o-mini": "small"})
    async with in_process(settings, llama) as r:
        named = await r.client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HI})
        auto = await r.client.post("/v1/chat/completions", json={"model": "auto", "messages": HI})
    for resp, model in ((named, "gpt-4o-mini"), (auto, "small")):
        body = resp.json()
        conforms("CreateChatCompletionResponse", body)
        assert body["model"] == model, f"the asked id (tier for auto), not the GGUF path: {body['model']}"
        assert GGUF not in resp.text, "the server's file path is never disclosed"
        assert body["choices"][0]["logprobs"]["refusal"] is None, "logprobs carry refusal"
        assert body["choices"][0]["message"]["refusal"] is None, "the message carries refusal"


async def test_a_plain_answer_has_null_logprobs_and_refusal(llama: InProcessLlama, tmp_path: Path) -> None:
    async with in_process(config(_tiers(llama), tmp_path), llama) as r:
        resp = await r.client.post("/v1/chat/completions", json={"model": "small", "messages": HI})
    body = resp.json()
    conforms("CreateChatCompletionResponse", body)
    choice = body["choices"][0]
    assert choice["logprobs"] is None and choice["message"]["refusal"] is None, f"required, null: {choice}"


@pytest.mark.parametrize("include_usage", [False, True])
async def test_every_chunk_of_a_real_llama_server_stream_is_valid_with_one_timestamp(
    include_usage: bool, llama: InProcessLlama, tmp_path: Path
) -> None:
    events = [e.encode() for e in LLAMA["stream"]]
    assert len({orjson.loads(e[6:])["created"] for e in events if e != b"data: [DONE]"}) > 1, (
        "the recorded stream's own timestamps change from chunk to chunk"
    )
    llama.script = [e + b"\n\n" for e in events]
    body = {"model": "auto", "messages": HI, "stream": True, "stream_options": {"include_usage": include_usage}}
    async with in_process(config(_tiers(llama), tmp_path), llama) as r:
        resp = await r.client.post("/v1/chat/completions", json=body)
    chunks = stream_conforms(resp.content, "small")
    usage = [c for c in chunks if "usage" in c]
    assert bool(usage) == include_usage, "a usage chunk exactly when asked for"
    with_logprobs = [c for c in chunks if c["choices"] and c["choices"][0].get("logprobs")]
    assert with_logprobs and all(c["choices"][0]["logprobs"]["refusal"] is None for c in with_logprobs), (
        "streamed logprobs carry refusal"
    )


async def test_fake_streams_and_the_default_chunks_conform(llama: InProcessLlama, tmp_path: Path) -> None:
    async with in_process(config(_tiers(llama), tmp_path), llama) as r:
        plain = await r.client.post("/v1/chat/completions", json={"model": "small", "messages": HI, "stream": None})
        streamed = await r.client.post("/v1/chat/completions", json={"model": "small", "messages": HI, "stream": True})
    conforms("CreateChatCompletionResponse", plain.json())
    stream_conforms(streamed.content, "small")


@pytest.mark.parametrize("stream", [False, True])
async def test_cache_replays_conform_even_for_entries_stored_in_the_upstreams_shape(
    stream: bool, llama: InProcessLlama, tmp_path: Path
) -> None:
    cache = ExactMemoryCache()
    body = {"model": "gpt-4o-mini", "messages": HI, "temperature": 0}
    settings = config(_tiers(llama), tmp_path, aliases={"gpt-4o-mini": "small"})
    async with in_process(settings, llama, cache=cache) as r:
        first = await r.client.post("/v1/chat/completions", json=body)
        # an entry stored before answers were shaped: the upstream's body as it came
        (key,) = cache.entries
        old = cache.entries[key]
        cache.entries[key] = CachedResponse(old.kind, copy.deepcopy(LLAMA["completion"]), old.tier, 1, 1)
        replay = await r.client.post(
            "/v1/chat/completions",
            json={**body, "stream": stream, "stream_options": {"include_usage": True}} if stream else body,
        )
    conforms("CreateChatCompletionResponse", first.json())
    assert replay.headers["x-frugal-cache"] == "hit-exact", "answered from the cache"
    if stream:
        chunks = stream_conforms(replay.content, "gpt-4o-mini")
        assert any("usage" in c for c in chunks), "the replay carries usage when asked"
    else:
        conforms("CreateChatCompletionResponse", replay.json())
        assert replay.json()["model"] == "gpt-4o-mini", "a replay names the asked id"
        assert GGUF not in replay.text, "no path from an old entry leaks"


async def test_models_and_one_model_conform(llama: InProcessLlama, tmp_path: Path) -> None:
    settings = config(_tiers(llama), tmp_path, aliases={"gpt-4o-mini": "small"})
    async with in_process(settings, llama) as r:
        listed = await r.client.get("/v1/models")
        ids = [m["id"] for m in listed.json()["data"]]
        each = [await r.client.get(f"/v1/models/{i}") for i in ids]
    conforms("ListModelsResponse", listed.json())
    for resp in each:
        assert resp.status_code == 200, resp.text
        conforms("Model", resp.json())


async def test_embeddings_conform_and_name_the_asked_model(llama: InProcessLlama, tmp_path: Path) -> None:
    tiers = [remote_tier("emb", llama.url, prompt="0.01", completion="0", embeddings=True)]
    async with in_process(config(tiers, tmp_path), llama) as r:
        resp = await r.client.post("/v1/embeddings", json={"model": "auto", "input": "hello"})
    conforms("CreateEmbeddingResponse", resp.json())
    assert resp.json()["model"] == "emb", "auto: the tier that answered"


async def _errors(llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path) -> dict[str, httpx.Response]:
    """One response for every error the router produces, by name."""
    tiers = [
        remote_tier("small", llama.url, prompt="0.01", completion="0.02", input_modalities=["text"]),
        remote_tier("big", llama2.url, prompt="0.1", completion="0.2", timeout_s=0.2),
        remote_tier("emb", llama.url, prompt="0.01", completion="0", embeddings=True),
    ]
    tenants = [
        {"name": "a", "keys": [{"key": KEY_A}], "allowed_tiers": ["small", "big", "emb"]},
        {"name": "poor", "keys": [{"key": "sk-poor-0123456789abcdef"}], "daily_budget_usd": "0"},
    ]
    settings = config(tiers, tmp_path, tenants=tenants, limits={"max_body_bytes": 4096})
    url = "/v1/chat/completions"
    out: dict[str, httpx.Response] = {}
    async with in_process(settings, llama, llama2) as r:
        c = r.client

        async def chat(name: str, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> None:
            out[name] = await c.post(url, json=body, headers=headers if headers is not None else AUTH, **kw)

        await chat("malformed json", None, content=b"{nope", headers={**AUTH, "content-type": "application/json"})
        await chat("wrong type", {"messages": HI, "max_tokens": "10"})
        await chat("bad content part", {"messages": [{"role": "user", "content": [{"type": "text"}]}]})
        await chat("image on text tier", {"model": "small", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]})  # fmt: skip
        await chat("embeddings tier for chat", {"model": "emb", "messages": HI})
        await chat("max cost unmet", {"messages": HI, "frugal": {"max_cost_usd": "0.0000000001"}})
        await chat("missing key", {"messages": HI}, headers={})
        await chat("unknown key", {"messages": HI}, headers={"authorization": "Bearer sk-nobody-0123456789"})
        await chat("unknown model", {"model": "nope", "messages": HI})
        await chat("too large", {"messages": [{"role": "user", "content": "x" * 5000}]})
        await chat(
            "budget", {"model": "small", "messages": HI}, headers={"authorization": "Bearer sk-poor-0123456789abcdef"}
        )
        out["unknown route"] = await c.get("/v1/nothing", headers=AUTH)
        out["wrong method"] = await c.get(url, headers=AUTH)
        out["unknown model id"] = await c.get("/v1/models/nope", headers=AUTH)
        llama.reply = (400, LLAMA_CONTEXT)
        await chat("context too long", {"model": "small", "messages": HI})
        llama.reply = (500, {"error": {"code": 500, "message": "Failed to parse tools: x", "type": "server_error"}})
        await chat("upstream could not parse", {"model": "small", "messages": HI})
        llama.reply = None
        llama2.mode = "500"
        await chat("upstream 500", {"model": "big", "messages": HI})
        llama2.mode = "slow"
        llama2.delay = 5
        await chat("upstream timeout", {"model": "big", "messages": HI})
        llama2.mode = "crash"
        await chat("cut mid-stream", {"model": "big", "messages": HI, "stream": True})
        admission = r.rt.gateway.gates["small"].admission  # every slot busy, no room in the queue
        admission.in_flight, admission.max_queue = admission.capacity(), 0
        await chat("overloaded", {"model": "small", "messages": HI})
        admission.in_flight, admission.max_queue = 0, 64
        breaker = r.rt.tiers["big"].breaker  # its circuit open, still cooling down: nothing can serve
        breaker.state, breaker.opened_at = OPEN, math.inf
        await chat("unavailable", {"model": "big", "messages": HI})
        breaker.on_success()
    return out


LLAMA_CONTEXT = {
    "error": {
        "code": 400,
        "message": "request (3024 tokens) exceeds the available context size (1024 tokens), try increasing it",
        "type": "exceed_context_size_error",
    }
}
EXPECTED_STATUS = {
    "malformed json": 400, "wrong type": 400, "bad content part": 400, "image on text tier": 400,
    "embeddings tier for chat": 400, "max cost unmet": 400, "missing key": 401, "unknown key": 401,
    "unknown model": 404, "too large": 413, "budget": 429, "unknown route": 404, "wrong method": 405,
    "unknown model id": 404, "context too long": 400, "upstream could not parse": 400, "upstream 500": 502,
    "upstream timeout": 504, "cut mid-stream": 200, "overloaded": 429, "unavailable": 503,
}  # fmt: skip


async def test_every_error_the_router_produces_is_an_openai_error_response(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    out = await _errors(llama, llama2, tmp_path)
    assert set(out) == set(EXPECTED_STATUS), "every case ran"
    for name, resp in out.items():
        assert resp.status_code == EXPECTED_STATUS[name], f"{name}: status {resp.status_code} ({resp.text[:300]})"
        if name == "cut mid-stream":
            errors = [e for e in sse_data(resp.content) if "error" in e]
            assert len(errors) == 1, f"a stream cut after its first byte ends with one error event: {resp.text}"
            conforms("ErrorResponse", errors[0])
            continue
        conforms("ErrorResponse", resp.json())
        assert isinstance(resp.json()["error"]["code"], str), f"{name}: every router error has a string code"


def test_an_upstream_error_event_inside_a_stream_is_normalised() -> None:
    event = b'data: {"error":{"code":500,"message":"slot died","type":"server_error"}}'
    shaped = orjson.loads(ChatShape("small").event(event)[6:])
    conforms("ErrorResponse", shaped)
    assert shaped["error"]["code"] == "upstream_error", f"a string code instead of llama-server's 500: {shaped}"
