"""The cache seam (lookup before routing, store after a miss) and the metrics' bounded labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.exact_cache import ExactMemoryCache
from runtime.settings import Settings
from tests.runtime.conftest import KEY_A, KEY_B, config, remote_tier
from tests.runtime.inprocess import InProcessLlama, in_process

METRICS_KEY = "scraper-key-0123456789"
pytestmark = pytest.mark.anyio

CHAT = {"model": "cheap", "messages": [{"role": "user", "content": "Name a colour."}]}


def _settings(llama: InProcessLlama, tmp_path: Path) -> Settings:
    tenants = [{"name": "a", "keys": [{"key": KEY_A}]}, {"name": "b", "keys": [{"key": KEY_B}]}]
    return config([remote_tier("cheap", llama.url, prompt="0.01", completion="0.02")], tmp_path, tenants=tenants)


async def test_a_repeated_request_is_answered_from_the_cache_for_the_same_tenant_only(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    cache = ExactMemoryCache()
    async with in_process(_settings(llama, tmp_path), llama, cache=cache) as router:
        url = "/v1/chat/completions"
        a1 = await router.client.post(url, json=CHAT, headers={"authorization": f"Bearer {KEY_A}"})
        a2 = await router.client.post(url, json=CHAT, headers={"authorization": f"Bearer {KEY_A}"})
        b1 = await router.client.post(url, json=CHAT, headers={"authorization": f"Bearer {KEY_B}"})
        s = await router.client.post(url, json={**CHAT, "stream": True}, headers={"authorization": f"Bearer {KEY_A}"})
        nostore = await router.client.post(
            url, json=CHAT, headers={"authorization": f"Bearer {KEY_A}", "x-frugal-cache": "no-store"}
        )
    assert a1.headers["x-frugal-cache"] == "miss", "the first request is a miss"
    assert a2.headers["x-frugal-cache"] == "hit-exact", "the repeat is an exact hit"
    assert a2.headers["x-frugal-cost-usd"] == "0" and a2.json() == a1.json(), "a hit is free and the same answer"
    assert b1.headers["x-frugal-cache"] == "miss", "another tenant never gets tenant a's entry"
    assert s.headers["x-frugal-cache"] == "hit-exact" and s.content.endswith(b"data: [DONE]\n\n"), (
        "a stream replays a hit"
    )
    assert b"Hello from the fake." in s.content, "the cached answer is in the replayed chunks"
    assert "x-frugal-cache" not in nostore.headers, "no-store bypasses the cache"
    assert len(llama.requests) == 3, f"upstream calls: a1, b1 and the no-store one ({len(llama.requests)})"


async def test_metrics_count_requests_tokens_and_cost_with_bounded_labels(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    async with in_process(_settings(llama, tmp_path), llama) as router:
        url = "/v1/chat/completions"
        await router.client.post(url, json=CHAT, headers={"authorization": f"Bearer {KEY_A}"})
        await router.client.post(
            url, json={**CHAT, "model": "attacker-chosen-label"}, headers={"authorization": f"Bearer {KEY_A}"}
        )
        text = (await router.client.get("/metrics")).text
    assert 'frugal_requests_total{status="200",tier="cheap"} 1.0' in text, "the success is counted under its tier"
    assert 'frugal_requests_total{status="404",tier="none"} 1.0' in text, "a rejected request counts under tier none"
    assert 'frugal_tokens_total{kind="prompt",tier="cheap"} 12.0' in text, "prompt tokens by tier"
    assert 'frugal_cost_usd_total{tier="cheap"} 0.00022' in text, "cost in USD by tier"
    assert "attacker-chosen-label" not in text, "no label value comes from the request"
    assert "frugal_budget_remaining_usd" not in text, "the per-tenant gauge is off unless opted in"


async def test_the_grafana_dashboard_only_uses_metrics_the_router_exports(
    llama: InProcessLlama, tmp_path: Path
) -> None:
    import json
    import re

    root = Path(__file__).resolve().parents[2]
    dash = json.loads((root / "runtime" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\b(frugal_[a-z_]+)", e)}
    settings = config(
        [remote_tier("cheap", llama.url, prompt="0.01", completion="0.02")],
        tmp_path,
        metrics={"budget_by_tenant": True, "auth_key": {"key": METRICS_KEY}},
    )
    async with in_process(settings, llama) as router:
        await router.client.post("/v1/chat/completions", json=CHAT)
        await router.client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        text = (await router.client.get("/metrics", headers={"authorization": f"Bearer {METRICS_KEY}"})).text
    exported = set(re.findall(r"^# TYPE (frugal_[a-z_]+) ", text, re.M))
    exported |= {e + s for e in exported for s in ("_total", "_bucket", "_sum", "_count")}
    assert used, "the dashboard has queries"
    assert used <= exported, f"every metric the dashboard queries exists: missing {used - exported}"
