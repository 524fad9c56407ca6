"""/v1/embeddings goes through the same pipeline as chat: fallback, breaker, admission, budget and
permissions, in process against fake tiers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.runtime.conftest import KEY_A, config, remote_tier
from tests.runtime.inprocess import InProcessLlama, in_process

pytestmark = pytest.mark.anyio

EMBED = {"model": "auto", "input": "hello"}
AUTH = {"authorization": f"Bearer {KEY_A}"}


def _tiers(llama: InProcessLlama, llama2: InProcessLlama) -> list[dict[str, object]]:
    return [
        remote_tier("emb-a", llama.url, prompt="0.01", completion="0", embeddings=True),
        remote_tier("emb-b", llama2.url, prompt="0.02", completion="0", embeddings=True),
        remote_tier("chat", llama2.url, prompt="0.01", completion="0.01"),
    ]


async def test_a_failing_embeddings_tier_falls_back_to_the_next_and_says_so(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    async with in_process(config(_tiers(llama, llama2), tmp_path), llama, llama2) as router:
        llama.mode = "503"
        llama.embeddings_fail = True
        r = await router.client.post("/v1/embeddings", json=EMBED)
        metrics = (await router.client.get("/metrics")).text
    assert r.status_code == 200, f"the second embeddings tier answered ({r.status_code} {r.text})"
    assert r.headers["x-frugal-tier"] == "emb-b", "the answer came from the fallback"
    assert r.headers["x-frugal-fallback"] == "emb-a:upstream_unavailable", "the header names who failed and why"
    assert Decimal(r.headers["x-frugal-cost-usd"]) == Decimal("0.00008"), "4 prompt tokens at emb-b's $0.02/1k"
    assert 'frugal_fallbacks_total{from_tier="emb-a"} 1.0' in metrics, "the fallback is counted"


async def test_an_open_circuit_skips_an_embeddings_tier(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    settings = config(_tiers(llama, llama2), tmp_path, routing={"circuit_failures": 1, "circuit_cooldown_s": 60})
    async with in_process(settings, llama, llama2) as router:
        llama.embeddings_fail = True
        await router.client.post("/v1/embeddings", json=EMBED)
        calls = len(llama.requests)
        r = await router.client.post("/v1/embeddings", json=EMBED)
    assert calls == 1 and len(llama.requests) == 1, "after one failure the open circuit keeps emb-a out"
    assert r.headers["x-frugal-tier"] == "emb-b", "emb-b answers while emb-a's circuit is open"
    assert r.headers["x-frugal-fallback"] == "0", "skipping an open circuit is not a failed attempt"


async def test_embeddings_are_refused_with_429_when_every_tier_is_at_its_queue_limit(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    async with in_process(config(_tiers(llama, llama2), tmp_path), llama, llama2) as router:
        # Every slot busy and no room in the queue: admission (runtime/admission.py) refuses at once.
        for gate in router.rt.gateway.gates.values():
            gate.admission.in_flight, gate.admission.max_queue = gate.admission.capacity(), 0
        r = await router.client.post("/v1/embeddings", json=EMBED)
        for gate in router.rt.gateway.gates.values():
            gate.admission.in_flight = 0
    assert r.status_code == 429 and r.json()["error"]["code"] == "overloaded", f"admission applies ({r.text})"
    assert llama.requests == [] and llama2.requests == [], "no tier was called"


async def test_embeddings_over_the_tenants_budget_are_refused_by_the_store(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "0.0000001"}]
    async with in_process(config(_tiers(llama, llama2), tmp_path, tenants=tenants), llama, llama2) as router:
        r = await router.client.post("/v1/embeddings", json=EMBED, headers=AUTH)
        spend = await router.rt.budget.spend("a")
    assert r.status_code == 429, f"the input's bound does not fit the budget ({r.status_code} {r.text})"
    assert r.json()["error"]["code"] == "daily_budget_exceeded", "the budget store's refusal, naming the period"
    assert llama.requests == [] and llama2.requests == [], "a refused request reaches no tier"
    assert spend.day_usd == 0, "nothing is held after the refusal"


async def test_embeddings_within_budget_are_charged_their_usage(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "daily_budget_usd": "1"}]
    async with in_process(config(_tiers(llama, llama2), tmp_path, tenants=tenants), llama, llama2) as router:
        r = await router.client.post("/v1/embeddings", json=EMBED, headers=AUTH)
        spend = await router.rt.budget.spend("a")
    assert r.status_code == 200, f"the request fits ({r.text})"
    assert spend.day_usd == Decimal("0.00004"), f"the ledger holds the 4 tokens the tier reported ({spend.day_usd})"


async def test_a_tenant_gets_403_for_embeddings_tiers_it_may_not_use(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "allowed_tiers": ["emb-b", "chat"]}]
    async with in_process(config(_tiers(llama, llama2), tmp_path, tenants=tenants), llama, llama2) as router:
        named = await router.client.post("/v1/embeddings", json={**EMBED, "model": "emb-a"}, headers=AUTH)
        auto = await router.client.post("/v1/embeddings", json=EMBED, headers=AUTH)
    assert named.status_code == 403, f"a tier the tenant may not use is forbidden ({named.status_code})"
    assert named.json()["error"]["param"] == "model", "the error names the field"
    assert auto.headers["x-frugal-tier"] == "emb-b", "auto picks among the allowed embeddings tiers only"
    assert llama.requests == [], "the forbidden tier was never called"


async def test_a_model_that_serves_no_embeddings_is_404(
    llama: InProcessLlama, llama2: InProcessLlama, tmp_path: Path
) -> None:
    async with in_process(config(_tiers(llama, llama2), tmp_path), llama, llama2) as router:
        r = await router.client.post("/v1/embeddings", json={**EMBED, "model": "chat"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", f"chat-only tier: {r.text}"
