"""What a request may cost: only allow-listed fields reach the upstream, the router enforces
max_tokens on streams, and nothing settles more than was reserved, even when the upstream overruns."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from runtime.accounting import Bound, TierPrice, charge, prompt_token_bound
from runtime.settings import Settings
from tests.runtime.conftest import KEY_A, config, remote_tier
from tests.runtime.inprocess import OVERRUN_TOKENS, InProcessLlama, in_process

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {KEY_A}"}
MESSAGES = [{"role": "user", "content": "Hi"}]
MAX_TOKENS = 5
PRICE = Decimal("0.01")


def _settings(llama: InProcessLlama, tmp_path: Path, daily: str = "1") -> Settings:
    tiers = [remote_tier("cheap", llama.url, prompt=str(PRICE), completion=str(PRICE))]
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": daily}]
    return config(tiers, tmp_path, tenants=tenants)


def _worst_case() -> Decimal:
    return Bound(prompt_token_bound(MESSAGES), MAX_TOKENS).worst_case(TierPrice(PRICE, PRICE))


def test_a_charge_never_exceeds_the_bound_it_was_reserved_for() -> None:
    price, bound = TierPrice(PRICE, PRICE), Bound(40, 4)
    over = charge(price, bound, (12, 64))
    within = charge(price, bound, (12, 4))
    assert over.cost == bound.worst_case(price) and over.overrun, f"64 tokens over a bound of 4 is capped: {over}"
    assert within.cost == price.cost(12, 4) and not within.overrun, f"usage within the bound is priced: {within}"


async def test_only_allow_listed_fields_reach_the_upstream_and_the_dropped_ones_are_named(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    body = {
        "model": "cheap", "messages": MESSAGES, "max_tokens": 4, "n_predict": 64, "ignore_eos": True,
        "id_slot": 0, "cache_prompt": False, "top_k": 5, "temperature": 0.5, "frugal": {"cache": "no-store"},
        "stream": True, "stream_options": {"include_usage": False, "extra_option": 1},
    }  # fmt: skip
    async with in_process(_settings(llama, tmp_path), llama) as router:
        r = await router.client.post("/v1/chat/completions", json=body, headers=AUTH)
    sent = llama.requests[-1]
    assert r.status_code == 200, f"the request is answered: {r.text}"
    for dropped in ("n_predict", "ignore_eos", "id_slot", "cache_prompt", "frugal"):
        assert dropped not in sent, f"{dropped} can raise cost or bypass a limit, so it is not forwarded: {sent}"
    assert sent["top_k"] == 5 and sent["temperature"] == 0.5, f"sampling fields are forwarded: {sent}"
    assert sent["max_tokens"] == 4, "the router's max_tokens is what the upstream gets"
    assert sent["stream_options"] == {"include_usage": True}, f"only include_usage goes upstream: {sent}"
    assert r.headers["x-frugal-ignored-fields"] == "n_predict,ignore_eos,id_slot,cache_prompt", (
        f"the client learns which fields were dropped: {r.headers.get('x-frugal-ignored-fields')}"
    )


async def test_embeddings_forward_only_their_allow_listed_fields(llama: InProcessLlama, tmp_path: Path) -> None:
    tiers = [remote_tier("emb", llama.url, prompt="0.01", completion="0.01", embeddings=True)]
    async with in_process(config(tiers, tmp_path), llama) as router:
        r = await router.client.post("/v1/embeddings", json={"input": "hi", "model": "emb", "n_predict": 9})
    assert r.status_code == 200, f"answered: {r.text}"
    assert llama.requests[-1] == {"input": "hi", "model": "emb"}, f"only known fields: {llama.requests[-1]}"


async def test_a_stream_whose_upstream_ignores_max_tokens_is_cut_at_the_bound_and_closed(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "overrun"
    body = {"model": "cheap", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "stream": True}
    async with in_process(_settings(llama, tmp_path), llama) as router:
        r = await router.client.post("/v1/chat/completions", json=body, headers=AUTH)
        spend = await router.rt.budget.spend("a")
        metrics = (await router.client.get("/metrics")).text
    events = [e for e in r.content.split(b"\n\n") if e.startswith(b"data: {")]
    tokens = [e for e in events if b'"content":"word' in e]
    assert len(tokens) == MAX_TOKENS, f"exactly max_tokens token chunks are relayed, got {len(tokens)}"
    last = orjson.loads(events[-1][6:])
    assert last["choices"][0]["finish_reason"] == "length", f"the stream ends as cut at max_tokens: {last}"
    assert r.content.endswith(b"data: [DONE]\n\n"), "the client gets a complete stream"
    assert llama.streamed < OVERRUN_TOKENS, f"the upstream was closed at the bound ({llama.streamed} produced)"
    assert spend.day_usd == _worst_case(), f"charged the reservation ({_worst_case()}), got {spend.day_usd}"
    assert 'frugal_upstream_overruns_total{tier="cheap"} 1.0' in metrics, "the overrun is counted"


async def test_overrunning_answers_never_overspend_a_budget_sized_for_twenty_requests(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    llama.mode = "overrun"
    budget = _worst_case() * 20
    body = {"model": "cheap", "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    async with in_process(_settings(llama, tmp_path, daily=str(budget)), llama) as router:
        statuses = [
            (await router.client.post("/v1/chat/completions", json=body, headers=AUTH)).status_code for _ in range(30)
        ]
        spend = await router.rt.budget.spend("a")
        metrics = (await router.client.get("/metrics")).text
    assert statuses.count(200) == 20 and statuses.count(429) == 10, f"20 fit the budget, then 429: {statuses}"
    assert spend.day_usd <= budget, f"spend {spend.day_usd} never passes the budget {budget}"
    assert 'frugal_upstream_overruns_total{tier="cheap"} 20.0' in metrics, "every overrun is counted"
