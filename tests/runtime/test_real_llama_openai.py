"""OpenAI conformance against a real llama-server (the embedded Gemma 3 270M) behind the router:
its answers validated against OpenAI's published schemas, the requests that made llama-server
answer HTTP 500 (and so tripped the breaker) answered 400 with the circuit closed, an over-long
prompt reported as context_length_exceeded, and a bounded run of spec-shaped requests with no 5xx.
Marked slow, like test_real_llama.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings

from runtime.assets import AssetError, llama_server_binary, small_model
from runtime.routing import CLOSED
from tests.runtime.conftest import KEY_A, RunningRouter, config, run_router
from tests.runtime.openai_requests import mixed_requests
from tests.runtime.openapi import violations
from tests.runtime.test_real_llama import _wait

pytestmark = pytest.mark.slow

AUTH = {"authorization": f"Bearer {KEY_A}"}
HI = [{"role": "user", "content": "Say hi."}]


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRouter]:
    try:
        binary, model = llama_server_binary(), small_model()
    except AssetError as exc:
        pytest.fail(f"real-component tests need the built llama-server and the model: {exc}")
    tmp = tmp_path_factory.mktemp("real-openai")
    tier = {
        "name": "small",
        "local": {"model_path": str(model), "parallel": 1, "ctx_size": 1024, "startup_timeout_s": 120},
        "price": {"prompt_per_1k": "0.0001", "completion_per_1k": "0.0002"},
        "default_max_tokens": 4,
    }
    embedder = {
        "name": "emb",
        "local": {
            "model_path": str(model), "parallel": 1, "ctx_size": 512, "embeddings": True,
            "extra_args": ["--pooling", "mean"], "startup_timeout_s": 120,
        },
        "price": {"prompt_per_1k": "0.00001", "completion_per_1k": "0"},
    }  # fmt: skip
    settings = config(
        [tier, embedder],
        tmp,
        tenants=[{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "5"}],
        aliases={"gpt-4o-mini": "small"},
        routing={"circuit_failures": 3, "circuit_cooldown_s": 600},
    )
    with run_router(settings, llama_server=binary, log_dir=tmp / "logs") as r:
        assert _wait(lambda: all(t.ready for t in r.rt.tiers.values()), 180), "both tiers became ready"
        yield r


def _post(router: RunningRouter, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(router.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=180)


def _conforms(name: str, body: Any) -> None:
    problems = violations(name, body)
    assert problems == [], f"not a valid {name}: {problems}\n{json.dumps(body)[:600]}"


def _chunks(raw: bytes) -> list[Any]:
    return [json.loads(e[6:]) for e in raw.split(b"\n\n") if e.startswith(b"data: ") and e != b"data: [DONE]"]


def test_the_model_capabilities_come_from_the_servers_props(router: RunningRouter) -> None:
    assert router.rt.tiers["small"].input_modalities == frozenset({"text"}), "Gemma 3 270M without mmproj: text"


def test_real_answers_conform_to_openais_schemas_and_name_the_asked_model(router: RunningRouter) -> None:
    whole = _post(
        router, {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 3, "logprobs": True, "top_logprobs": 1}
    )
    plain = _post(router, {"model": "small", "messages": HI, "max_tokens": 3})
    _conforms("CreateChatCompletionResponse", whole.json())
    _conforms("CreateChatCompletionResponse", plain.json())
    assert whole.json()["model"] == "gpt-4o-mini" and plain.json()["model"] == "small", "the asked ids"
    assert ".gguf" not in whole.text + plain.text, "the model file's path is never sent"
    for usage in (False, True):
        body = {"model": "auto", "messages": HI, "max_tokens": 3, "stream": True, "logprobs": True}
        r = _post(router, {**body, "stream_options": {"include_usage": usage}})
        chunks = _chunks(r.content)
        for c in chunks:
            _conforms("CreateChatCompletionStreamResponse", c)
        assert {c["model"] for c in chunks} == {"small"}, "auto: the tier that answered"
        assert len({c["created"] for c in chunks}) == 1, "one timestamp per stream"
        assert any("usage" in c for c in chunks) == usage, "usage exactly when asked"


def test_a_cache_replay_of_a_real_answer_conforms(router: RunningRouter) -> None:
    body = {
        "model": "small",
        "messages": [{"role": "user", "content": "Name a colour."}],
        "max_tokens": 3,
        "temperature": 0,
    }
    first = _post(router, body)
    again = _post(router, {**body, "model": "gpt-4o-mini"})
    streamed = _post(router, {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert first.headers.get("x-frugal-cache") == "miss", first.headers
    assert streamed.headers.get("x-frugal-cache") == "hit-exact", "the stream is a replay"
    _conforms("CreateChatCompletionResponse", first.json())
    for c in _chunks(streamed.content):
        _conforms("CreateChatCompletionStreamResponse", c)
    assert again.headers.get("x-frugal-cache") == "hit-exact", "the alias resolves to the same tier: a hit"
    assert again.json()["model"] == "gpt-4o-mini", "a replay names the id asked this time, not the stored one"
    _conforms("CreateChatCompletionResponse", again.json())


MALFORMED = [
    [{"role": "user", "content": "x", "name": None}],
    [{"role": "user", "content": [{"type": "text"}]}],
    [{"role": "user", "content": [{"type": "text", "text": 5}]}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}],
]
BAD_TOOLS = [[{"type": "function", "function": {}}], "x", ["x"], [{"type": "custom", "custom": {"name": "grep"}}]]


def test_requests_llama_server_answers_with_500_are_400s_and_never_open_the_circuit(router: RunningRouter) -> None:
    answers = [_post(router, {"model": "small", "messages": m, "max_tokens": 2}) for m in MALFORMED for _ in (1, 2)]
    answers += [_post(router, {"model": "small", "messages": HI, "max_tokens": 2, "tools": t}) for t in BAD_TOOLS]
    breaker = router.rt.tiers["small"].breaker
    good = _post(router, {"model": "small", "messages": HI, "max_tokens": 2})
    for r in answers:
        assert r.status_code == 400, f"the client's error: {r.status_code} {r.text[:300]}"
        _conforms("ErrorResponse", r.json())
    assert breaker.state == CLOSED and breaker.consecutive == 0, (
        f"{len(answers)} bad requests; the circuit stays closed"
    )
    assert good.status_code == 200, "every tenant keeps the tier"


def test_an_over_long_prompt_is_context_length_exceeded(router: RunningRouter) -> None:
    r = _post(router, {"model": "small", "messages": [{"role": "user", "content": "hello " * 1500}], "max_tokens": 2})
    assert r.status_code == 400, r.text[:300]
    _conforms("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == "context_length_exceeded", r.json()
    assert r.json()["error"]["type"] == "invalid_request_error", r.json()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(body=mixed_requests("small", lambda b: not violations("CreateChatCompletionRequest", b)))
def test_spec_shaped_requests_to_a_real_llama_server_get_no_5xx_and_open_no_circuit(
    router: RunningRouter, body: dict[str, Any]
) -> None:
    r = _post(router, body)
    breaker = router.rt.tiers["small"].breaker
    event(f"status {r.status_code}")
    assert r.status_code < 500, f"no 5xx while the tier is up: {r.status_code} {r.text[:300]}\n{body}"
    assert breaker.state == CLOSED and breaker.consecutive == 0, f"the circuit moved: {body}"


def test_real_embeddings_conform_and_the_embeddings_tier_never_answers_chat(router: RunningRouter) -> None:
    emb = httpx.post(
        router.url + "/v1/embeddings", json={"model": "auto", "input": ["hi", "there"]}, headers=AUTH, timeout=120
    )
    chat = _post(router, {"model": "emb", "messages": HI, "max_tokens": 2})
    auto = _post(router, {"model": "auto", "messages": HI, "max_tokens": 2})
    assert emb.status_code == 200, emb.text[:300]
    _conforms("CreateEmbeddingResponse", emb.json())
    assert emb.json()["model"] == "emb" and ".gguf" not in emb.text, "the tier's id, not the file path"
    assert chat.status_code == 400 and chat.json()["error"]["param"] == "model", chat.text[:300]
    assert auto.headers["x-frugal-tier"] == "small", "auto chat goes to the chat tier, never the cheaper embedder"
