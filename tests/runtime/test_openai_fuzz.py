"""Property: spec-shaped chat requests, valid and invalid (tests/runtime/openai_requests.py), never
get a 5xx from a router whose tier is up, never move a tier's circuit breaker, and are refused
before a tier sees them whenever OpenAI's schema refuses their messages or tools; requests the
schema accepts are answered. In process with a fake tier; the same strategies run against a real
llama-server in test_real_llama.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings

from runtime.routing import CLOSED
from tests.runtime.conftest import config, remote_tier
from tests.runtime.inprocess import InProcessLlama, InProcessRouter, in_process
from tests.runtime.openai_requests import embeddings_request, mixed_requests
from tests.runtime.openapi import violations

T = TypeVar("T")


class LoopThread:
    """One event loop in a thread, so a router started once serves every Hypothesis example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.fake = InProcessLlama("fuzzed")
        tiers = [
            remote_tier("t", self.fake.url, prompt="0.01", completion="0.01", max_tokens_limit=64),
            remote_tier("e", self.fake.url, prompt="0.01", completion="0", embeddings=True),
        ]
        self.loop = LoopThread()
        self._cm = in_process(config(tiers, tmp, routing={"circuit_failures": 1, "circuit_cooldown_s": 600}), self.fake)
        self.router: InProcessRouter = self.loop.run(self._cm.__aenter__())

    def close(self) -> None:
        self.loop.run(self._cm.__aexit__(None, None, None))
        self.loop.stop()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("fuzz"))
    yield h
    h.close()


def as_the_router_accepts(body: dict[str, Any]) -> dict[str, Any]:
    """The one leniency the router allows beyond the schema: `tool_calls: null` on an assistant
    message (OpenAI's SDKs serialise a response message that way) means no tool calls."""
    messages = []
    for m in body.get("messages") or []:
        if isinstance(m, dict) and m.get("role") == "assistant" and "tool_calls" in m and m["tool_calls"] is None:
            m = {k: v for k, v in m.items() if k != "tool_calls"}
        messages.append(m)
    return {**body, "messages": messages}


def spec_view(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a request whose schema the router enforces: messages, tools, tool_choice."""
    return {k: body[k] for k in ("model", "messages", "tools", "tool_choice") if k in body}


async def _send(router: InProcessRouter, body: dict[str, Any], path: str = "/v1/chat/completions") -> tuple[int, str]:
    resp = await router.client.post(path, json=body)
    text = resp.text if not body.get("stream") else resp.text[-300:]
    return resp.status_code, text


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(body=mixed_requests("t", lambda b: not violations("CreateChatCompletionRequest", b)))
def test_spec_shaped_requests_never_get_a_5xx_or_move_a_breaker_and_invalid_ones_never_reach_the_tier(
    harness: Harness, body: dict[str, Any]
) -> None:
    before = len(harness.fake.requests)
    status, text = harness.loop.run(_send(harness.router, body))
    breaker = harness.router.rt.tiers["t"].breaker
    forwarded = harness.fake.requests[before:]
    assert status < 500, f"no 5xx while the tier is up: {status} {text[:300]}\n{body}"
    assert breaker.state == CLOSED and breaker.consecutive == 0, f"a client's request moved the breaker: {body}"
    accepted = as_the_router_accepts(body)
    event(f"status {status}, {'forwarded' if forwarded else 'not forwarded'}")
    if forwarded:
        problems = violations("CreateChatCompletionRequest", spec_view(as_the_router_accepts(forwarded[0])))
        assert problems == [], f"the tier was sent what the schema refuses: {problems}\n{body}"
    if not violations("CreateChatCompletionRequest", accepted):
        assert status == 200, f"a request the schema accepts is answered: {status} {text[:300]}\n{body}"
    elif violations("CreateChatCompletionRequest", spec_view(accepted)):
        assert 400 <= status < 500 and not forwarded, f"refused before the tier: {status}\n{body}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=embeddings_request("e"))
def test_spec_shaped_embeddings_requests_never_get_a_5xx_and_bad_input_never_reaches_the_tier(
    harness: Harness, body: dict[str, Any]
) -> None:
    before = len(harness.fake.requests)
    status, text = harness.loop.run(_send(harness.router, body, "/v1/embeddings"))
    forwarded = len(harness.fake.requests) > before
    breaker = harness.router.rt.tiers["e"].breaker
    event(f"status {status}, {'forwarded' if forwarded else 'not forwarded'}")
    assert status < 500, f"no 5xx while the tier is up: {status} {text[:300]}\n{body}"
    assert breaker.state == CLOSED and breaker.consecutive == 0, f"a client's request moved the breaker: {body}"
    if not violations("CreateEmbeddingRequest", body):
        assert status == 200, f"a request the schema accepts is answered: {status} {text[:300]}\n{body}"
    elif violations("CreateEmbeddingRequest", {"model": "e", "input": body["input"]}):
        assert status == 400 and not forwarded, f"bad input is refused before the tier: {status}\n{body}"
