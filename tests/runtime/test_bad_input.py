"""Bad requests: each gets the right 4xx and an OpenAI-shaped body that says what to fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import KEY_A, config, remote_tier
from tests.runtime.inprocess import InProcessLlama, InProcessRouter, in_process

pytestmark = pytest.mark.anyio

OK = {"model": "cheap", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
async def router(llama: InProcessLlama, tmp_path: Path) -> AsyncIterator[InProcessRouter]:
    tiers = [
        remote_tier("cheap", llama.url, prompt="0.01", completion="0.01", max_tokens_limit=1000),
        remote_tier("other", llama.url, prompt="0.01", completion="0.01"),
    ]
    tenants = [{"name": "a", "keys": [{"key": KEY_A}], "allowed_tiers": ["cheap"]}]
    settings = config(tiers, tmp_path, tenants=tenants, limits={"max_body_bytes": 4096})
    async with in_process(settings, llama) as r:
        yield r


async def _post(
    router: InProcessRouter, content: bytes | None = None, json: object = None, key: str | None = KEY_A
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return await router.client.post("/v1/chat/completions", content=content, json=json, headers=headers)


def _check(r: httpx.Response, status: int, param: str | None = None) -> dict[str, object]:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}, f"OpenAI-shaped error: {err}"
    assert isinstance(err["message"], str) and len(err["message"]) > 10, "the message explains the problem"
    if param is not None:
        assert err["param"] == param, f"param names the bad field: {err}"
    return err


CASES = [
    ("malformed JSON", b'{"model": "cheap", "messages": [', None, 400, None),
    ("a JSON array", b"[1, 2]", None, 400, None),
    ("messages missing", None, {"model": "cheap"}, 400, "messages"),
    ("messages empty", None, {**OK, "messages": []}, 400, "messages"),
    ("max_tokens a string", None, {**OK, "max_tokens": "ten"}, 400, "max_tokens"),
    ("stream a string", None, {**OK, "stream": "yes"}, 400, "stream"),
    ("negative max_tokens", None, {**OK, "max_tokens": -5}, 400, "max_tokens"),
    ("zero max_tokens", None, {**OK, "max_tokens": 0}, 400, "max_tokens"),
    ("huge max_tokens", None, {**OK, "max_tokens": 10**9}, 400, "max_tokens"),
    ("temperature out of range", None, {**OK, "temperature": 7}, 400, "temperature"),
    ("a bad role", None, {**OK, "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0].role"),
    ("unknown model", None, {**OK, "model": "gpt-99"}, 404, "model"),
]


@pytest.mark.parametrize(("label", "raw", "body", "status", "param"), CASES, ids=[c[0] for c in CASES])
async def test_a_bad_request_gets_the_right_status_and_an_openai_error(
    router: InProcessRouter, label: str, raw: bytes | None, body: object, status: int, param: str | None
) -> None:
    _check(await _post(router, content=raw, json=body), status, param)


async def test_a_body_over_the_limit_is_413(router: InProcessRouter) -> None:
    big = {**OK, "messages": [{"role": "user", "content": "x" * 10_000}]}
    err = _check(await _post(router, json=big), 413)
    assert "4096" in str(err["message"]), "the message names the limit"


async def test_a_chunked_body_over_the_limit_is_413_too(router: InProcessRouter) -> None:
    async def gen() -> AsyncIterator[bytes]:
        yield b'{"model": "cheap", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    r = await router.client.post("/v1/chat/completions", content=gen(), headers={"authorization": f"Bearer {KEY_A}"})
    _check(r, 413)


async def test_a_missing_key_is_401_and_a_wrong_key_is_401(router: InProcessRouter) -> None:
    assert _check(await _post(router, json=OK, key=None), 401)["code"] == "missing_api_key", "no key: say so"
    assert _check(await _post(router, json=OK, key="sk-not-a-real-key-at-all"), 401)["code"] == "invalid_api_key", (
        "bad key"
    )


async def test_a_tier_the_tenant_may_not_use_is_403(router: InProcessRouter) -> None:
    _check(await _post(router, json={**OK, "model": "other"}), 403, "model")


async def test_an_unknown_route_is_an_openai_shaped_404(router: InProcessRouter) -> None:
    r = await router.client.get("/v1/nothing-here")
    _check(r, 404)


async def test_a_bad_limit_header_is_400(router: InProcessRouter) -> None:
    r = await router.client.post(
        "/v1/chat/completions",
        json={**OK, "model": "auto"},
        headers={"authorization": f"Bearer {KEY_A}", "x-frugal-max-cost-usd": "cheap please"},
    )
    _check(r, 400, "x-frugal-max-cost-usd")
