"""Against real llama-servers on the embedded small model (Gemma 3 270M), supervised by the router.

Two local tiers serve the same model at different prices, so `auto` routing is visible in the
`x-frugal-tier` header without a second model. Marked slow; `make test` runs them (it builds
llama-server and installs the model package first).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from runtime.accounting import TierPrice, chat_bound
from runtime.assets import AssetError, llama_server_binary, small_model
from tests.runtime.conftest import KEY_A, RunningRouter, config, run_router

pytestmark = pytest.mark.slow

EASY = [{"role": "user", "content": "Say hi."}]
HARD = [
    {
        "role": "user",
        "content": "Explain step by step why this recursive function is slow, analyze its complexity and "
        "prove the fix is correct:\n```python\ndef fib(n):\n    return fib(n-1) + fib(n-2)\n```\n"
        + "Compare the trade-offs. "
        * 30,
    }
]


def _local(name: str, model: Path, prompt: str, completion: str, max_complexity: float) -> dict[str, object]:
    return {
        "name": name,
        "local": {"model_path": str(model), "parallel": 2, "ctx_size": 2048, "startup_timeout_s": 120},
        "price": {"prompt_per_1k": prompt, "completion_per_1k": completion},
        "max_complexity": max_complexity,
        "default_max_tokens": 16,
        "fallbacks": [],
    }


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRouter]:
    try:
        binary, model = llama_server_binary(), small_model()
    except AssetError as exc:
        pytest.fail(f"real-component tests need the built llama-server and the model: {exc}")
    tmp = tmp_path_factory.mktemp("real")
    tiers = [
        _local("small", model, "0.0001", "0.0002", 0.35),
        _local("large", model, "0.001", "0.003", 1.0),
    ]
    settings = config(tiers, tmp, tenants=[{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "5"}])
    with run_router(settings, llama_server=binary, log_dir=tmp / "logs") as r:
        assert r.rt.supervisor and _wait(lambda: all(t.ready for t in r.rt.tiers.values()), 180), "both tiers ready"
        yield r
    # leaving the block stopped the router, which must have stopped its llama-servers
    pids = [s.pid for s in r.rt.supervisor.servers.values()]
    assert all(not _alive(p) for p in pids if p), "the router's shutdown stopped every llama-server"


def _wait(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _client(router: RunningRouter) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key=KEY_A, max_retries=0, timeout=120)


def test_a_non_streaming_chat_through_the_openai_client_has_usage_and_cost(router: RunningRouter) -> None:
    raw = _client(router).chat.completions.with_raw_response.create(model="small", messages=EASY, max_tokens=8)
    completion = raw.parse()
    assert completion.choices[0].message.content, "the model answered something"
    assert completion.usage and completion.usage.prompt_tokens > 0 < completion.usage.completion_tokens, "usage present"
    cost = Decimal(raw.headers["x-frugal-cost-usd"])
    expected = (
        Decimal(completion.usage.prompt_tokens) * Decimal("0.0001")
        + Decimal(completion.usage.completion_tokens) * Decimal("0.0002")
    ) / 1000
    assert cost == expected.quantize(Decimal("1e-9")), f"cost {cost} = usage x the small tier's prices ({expected})"
    assert raw.headers["x-frugal-tier"] == "small", "the named tier answered"


def test_a_streaming_chat_with_include_usage_ends_with_usage(router: RunningRouter) -> None:
    stream = _client(router).chat.completions.create(
        model="small", messages=EASY, max_tokens=8, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text, "content arrived in chunks"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, "the last chunk carries usage"


def test_a_raw_stream_carries_its_cost_as_an_sse_comment_priced_from_usage(router: RunningRouter) -> None:
    body = {
        "model": "small",
        "messages": EASY,
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    r = httpx.post(
        router.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY_A}"}, timeout=120
    )
    events = [e for e in r.content.split(b"\n\n") if e]
    usage = json.loads(events[-3][len(b"data: ") :])["usage"]
    assert events[-2].startswith(b": x-frugal-cost-usd="), f"the cost comment precedes [DONE]: {events[-2]!r}"
    cost = Decimal(events[-2].split(b"=", 1)[1].decode())
    expected = (
        Decimal(usage["prompt_tokens"]) * Decimal("0.0001") + Decimal(usage["completion_tokens"]) * Decimal("0.0002")
    ) / 1000
    assert cost == expected.quantize(Decimal("1e-9")) > 0, f"the stream's cost {cost} is its usage at the tier's prices"
    assert events[-1] == b"data: [DONE]", "the stream is complete"


def test_a_streaming_chat_without_include_usage_has_no_usage_chunk(router: RunningRouter) -> None:
    chunks = list(_client(router).chat.completions.create(model="small", messages=EASY, max_tokens=8, stream=True))
    assert chunks and all(c.usage is None for c in chunks), "no usage when the client did not ask for it"
    assert any(c.choices and c.choices[0].delta.content for c in chunks), "content arrived"
    spend = httpx.get(router.url + "/metrics").text
    assert 'frugal_tokens_total{kind="completion",tier="small"}' in spend, "the stream's tokens were still counted"


def test_auto_sends_an_easy_prompt_to_the_cheap_tier_and_a_hard_one_to_the_capable_tier(router: RunningRouter) -> None:
    client = _client(router)
    easy = client.chat.completions.with_raw_response.create(model="auto", messages=EASY, max_tokens=4)
    hard = client.chat.completions.with_raw_response.create(model="auto", messages=HARD, max_tokens=4)
    assert easy.headers["x-frugal-tier"] == "small", f"easy -> small (score {easy.headers['x-frugal-complexity']})"
    assert hard.headers["x-frugal-tier"] == "large", f"hard -> large ({dict(hard.headers)})"
    assert Decimal(hard.headers["x-frugal-cost-usd"]) > Decimal(easy.headers["x-frugal-cost-usd"]), "large costs more"


def test_the_supervisor_restarts_a_killed_llama_server_and_the_router_recovers(router: RunningRouter) -> None:
    server = router.rt.supervisor.servers["small"]
    old_pid, restarts = server.pid, server.restarts
    assert old_pid, "the small tier's server is running"
    os.kill(old_pid, signal.SIGKILL)
    assert _wait(lambda: server.restarts > restarts, 30), "the supervisor noticed the crash"
    assert _wait(lambda: server.tier.ready and server.pid != old_pid, 120), "a new llama-server became healthy"
    r = _client(router).chat.completions.with_raw_response.create(model="small", messages=EASY, max_tokens=4)
    assert r.headers["x-frugal-tier"] == "small" and r.parse().choices, "the router serves through the new server"
    assert 'frugal_llama_server_restarts_total{tier="small"} 1.0' in httpx.get(router.url + "/metrics").text, (
        "the restart is counted"
    )


def _overrun_body(stream: bool) -> dict[str, object]:
    # llama-server's own `n_predict` overrides `max_tokens`; `ignore_eos` makes it use all of them.
    return {
        "model": "small",
        "messages": [{"role": "user", "content": "Count from one to one hundred in words."}],
        "max_tokens": 4,
        "n_predict": 64,
        "ignore_eos": True,
        "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    }


def test_n_predict_cannot_make_a_non_streaming_answer_longer_than_max_tokens(router: RunningRouter) -> None:
    r = httpx.post(
        router.url + "/v1/chat/completions",
        json=_overrun_body(False),
        headers={"authorization": f"Bearer {KEY_A}"},
        timeout=120,
    )
    assert r.status_code == 200, f"the request is answered: {r.text[:300]}"
    usage = r.json()["usage"]
    assert usage["completion_tokens"] <= 4, f"max_tokens 4 bounds the completion, got {usage}"
    messages = _overrun_body(False)["messages"]
    reserved = chat_bound(messages, None, 4).worst_case(TierPrice(Decimal("0.0001"), Decimal("0.0002")))  # type: ignore[arg-type]
    assert Decimal(r.headers["x-frugal-cost-usd"]) <= reserved, f"the charge is within the reservation {reserved}"
    assert "n_predict" in r.headers["x-frugal-ignored-fields"], "the client is told n_predict was not forwarded"


def test_n_predict_cannot_make_a_stream_longer_than_max_tokens(router: RunningRouter) -> None:
    r = httpx.post(
        router.url + "/v1/chat/completions",
        json=_overrun_body(True),
        headers={"authorization": f"Bearer {KEY_A}"},
        timeout=120,
    )
    events = [e for e in r.content.split(b"\n\n") if e.startswith(b"data: {")]
    content = [e for e in events if b'"content"' in e and b'"usage"' not in e]
    usage = [json.loads(e[6:])["usage"] for e in events if b'"usage"' in e]
    assert usage and usage[-1]["completion_tokens"] <= 4, f"max_tokens 4 bounds the streamed usage, got {usage}"
    assert len(content) <= 5, f"at most 4 tokens (plus the role chunk) were relayed, got {len(content)} chunks"
