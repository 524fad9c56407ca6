"""Chat and embeddings through the router in process against fake tiers: headers, cost, usage in streams."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.runtime.conftest import config, remote_tier
from tests.runtime.fake_llama import USAGE_CHUNK, chunk
from tests.runtime.inprocess import InProcessLlama, in_process

pytestmark = pytest.mark.anyio

CHAT = {"model": "cheap", "messages": [{"role": "user", "content": "Say hello."}]}


async def test_a_chat_answer_carries_the_tier_and_its_cost_computed_from_usage(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    settings = config([remote_tier("cheap", llama.url, prompt="0.01", completion="0.02")], tmp_path)
    async with in_process(settings, llama) as router:
        r = await router.client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200, f"a healthy upstream gives 200, got {r.status_code}: {r.text}"
    assert r.headers["x-frugal-tier"] == "cheap", "the tier that answered is named"
    # fake usage: 12 prompt + 5 completion tokens -> 12/1000*0.01 + 5/1000*0.02
    assert Decimal(r.headers["x-frugal-cost-usd"]) == Decimal("0.00022"), "cost = tokens x price per 1k / 1000"
    assert r.headers["x-frugal-fallback"] == "0", "no fallback happened"
    assert r.json()["choices"][0]["message"]["content"] == "Hello from the fake.", (
        "the upstream's answer is passed through"
    )


async def test_the_upstream_gets_the_tier_model_and_a_max_tokens_bound(llama: InProcessLlama, tmp_path: Path) -> None:
    settings = config(
        [remote_tier("cheap", llama.url, prompt="0.01", completion="0.02", default_max_tokens=77)], tmp_path
    )
    async with in_process(settings, llama) as router:
        await router.client.post("/v1/chat/completions", json={**CHAT, "frugal": {"latency_target_ms": 5000}})
    sent = llama.requests[-1]
    assert sent["max_tokens"] == 77, "without max_tokens the tier's default bounds the completion (and the reservation)"
    assert "frugal" not in sent, "the router's own extension is not forwarded"


async def test_a_stream_without_include_usage_has_no_usage_chunk_but_usage_was_requested_upstream(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    settings = config([remote_tier("cheap", llama.url, prompt="0.01", completion="0.02")], tmp_path)
    async with in_process(settings, llama) as router:
        r = await router.client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 200, f"stream starts fine: {r.text}"
    assert llama.requests[-1]["stream_options"] == {"include_usage": True}, "usage is always requested upstream"
    events = [e for e in r.content.split(b"\n\n") if e]
    data = [e for e in events if e.startswith(b"data: ")]
    assert data[-1] == b"data: [DONE]", "the stream ends with [DONE]"
    assert all(b'"usage"' not in e for e in data), "the client did not ask for usage, so none is sent"
    assert any(e.startswith(b": x-frugal-cost-usd=0.0001") for e in events), "the cost arrives as an SSE comment"


async def test_a_stream_with_include_usage_keeps_the_usage_chunk_byte_for_byte_but_the_model_id(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    settings = config([remote_tier("cheap", llama.url, prompt="0.01", completion="0.02")], tmp_path)
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with in_process(settings, llama) as router:
        r = await router.client.post("/v1/chat/completions", json=body)

    def as_answered(event: bytes) -> bytes:
        # `model` is the id the client was answered by (OpenAI's schema), not the upstream's own name
        return event.replace(b'"model":"fake"', b'"model":"cheap"')

    assert as_answered(USAGE_CHUNK) in r.content, "the usage chunk is forwarded unchanged but for the model id"
    assert as_answered(chunk({"role": "assistant", "content": "Hel"})) in r.content, (
        "content chunks are forwarded unchanged but for the model id"
    )
    assert r.headers["content-type"].startswith("text/event-stream"), "SSE content type"


async def test_models_lists_auto_tiers_and_aliases(llama: InProcessLlama, tmp_path: Path) -> None:
    settings = config(
        [remote_tier("cheap", llama.url, prompt="0.01", completion="0.02")], tmp_path, aliases={"gpt-4o-mini": "cheap"}
    )
    async with in_process(settings, llama) as router:
        r = await router.client.get("/v1/models")
        ready = await router.client.get("/readyz")
        health = await router.client.get("/healthz")
    ids = [m["id"] for m in r.json()["data"]]
    assert ids == ["auto", "cheap", "gpt-4o-mini"], f"auto, tiers and aliases are listed: {ids}"
    assert ready.status_code == 200 and health.status_code == 200, "a remote tier counts as ready"


async def test_embeddings_pass_through_to_a_tier_that_serves_them(llama: InProcessLlama, tmp_path: Path) -> None:
    settings = config([remote_tier("emb", llama.url, prompt="0.01", completion="0", embeddings=True)], tmp_path)
    async with in_process(settings, llama) as router:
        r = await router.client.post("/v1/embeddings", json={"model": "emb", "input": "hello"})
    assert r.status_code == 200, f"embeddings answered: {r.text}"
    assert orjson.loads(r.content)["data"][0]["embedding"] == [0.1, 0.2, 0.3], "the upstream's vectors pass through"
    assert Decimal(r.headers["x-frugal-cost-usd"]) == Decimal("0.00004"), "4 prompt tokens at $0.01/1k"


async def test_auto_honours_a_max_cost_header_and_reports_the_route(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tiers = [
        remote_tier("cheap", llama.url, prompt="0.001", completion="0.001", max_complexity=0.1),
        remote_tier("strong", llama2.url, prompt="1", completion="1", max_complexity=1.0),
    ]
    hard = {
        "model": "auto",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Explain why, step by step, and prove it: ```def f(): return 1```"}],
    }
    async with in_process(config(tiers, tmp_path), llama, llama2) as router:
        free = await router.client.post("/v1/chat/completions", json=hard)
        capped = await router.client.post("/v1/chat/completions", json=hard, headers={"x-frugal-max-cost-usd": "0.01"})
        body_capped = await router.client.post("/v1/chat/completions", json={**hard, "frugal": {"max_cost_usd": 0.01}})
    assert free.headers["x-frugal-tier"] == "strong", f"a hard prompt goes to the strong tier ({free.headers})"
    assert capped.headers["x-frugal-tier"] == "cheap", "the strong tier's worst case (> $0.1) breaks a $0.01 cap"
    assert capped.headers["x-frugal-route"] == "degraded", "the route says the answer comes from a weaker tier"
    assert body_capped.headers["x-frugal-tier"] == "cheap", "the body extension works like the header"
