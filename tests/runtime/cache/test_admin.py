"""The cache admin API inside the real router: it reads the cache and the key from the app's state
and answers failures through the router's one error boundary, in OpenAI's error shape."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.runtime.cache.test_through_router import ADMIN, chat, settings
from tests.runtime.conftest import run_router
from tests.runtime.fake_llama import FakeLlama

HEADERS = {"x-admin-key": ADMIN}


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, (
        f"errors are OpenAI-shaped, not {body}"
    )
    error: dict[str, object] = body["error"]
    return error


def test_without_an_admin_key_the_admin_api_answers_404_disabled(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path, admin_key=None)) as router:
        stats = httpx.get(router.url + "/admin/cache/stats", headers=HEADERS)
        drop = httpx.post(router.url + "/admin/cache/invalidate", json={"tenant": "a"}, headers=HEADERS)
    for response in (stats, drop):
        assert response.status_code == 404, f"a disabled admin API is never open ({response.status_code})"
        assert error_of(response)["code"] == "disabled", "the error says the API is disabled"


def test_a_router_without_the_cache_says_so_on_the_admin_api(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path, enabled=False)) as router:
        stats = httpx.get(router.url + "/admin/cache/stats", headers=HEADERS)
    assert stats.status_code == 404 and error_of(stats)["code"] == "no_cache", "no cache: a clear 404"


def test_bad_admin_requests_get_openai_shaped_errors(fake: FakeLlama, tmp_path: Path) -> None:
    with run_router(settings(fake, tmp_path)) as router:
        url = router.url + "/admin/cache/invalidate"
        not_json = httpx.post(url, content=b"{tenant", headers=HEADERS)
        not_object = httpx.post(url, json=["a"], headers=HEADERS)
        empty_tenant = httpx.post(url, json={"tenant": ""}, headers=HEADERS)
        unscoped = httpx.post(url, json={}, headers=HEADERS)
        no_key = httpx.post(url, json={"tenant": "a"})
        wrong_method = httpx.get(url, headers=HEADERS)
    assert not_json.status_code == 400 and error_of(not_json)["code"] == "invalid_json", "unparsable body"
    assert not_object.status_code == 400 and error_of(not_object)["code"] == "invalid_json", "a list is refused"
    empty = error_of(empty_tenant)
    assert empty_tenant.status_code == 400 and (empty["code"], empty["param"]) == ("invalid_value", "tenant"), (
        "an empty tenant is refused and named"
    )
    assert unscoped.status_code == 400 and error_of(unscoped)["code"] == "missing_scope", "no scope, no wipe"
    assert no_key.status_code == 401 and error_of(no_key)["type"] == "authentication_error", "the key is required"
    assert wrong_method.status_code == 405 and "error" in wrong_method.json(), "a wrong method is OpenAI-shaped too"


def test_each_router_administers_its_own_cache(fake: FakeLlama, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with run_router(settings(fake, tmp_path / "one")) as one, run_router(settings(fake, tmp_path / "two")) as two:
        chat(one, "What is the capital of France?")
        first = httpx.get(one.url + "/admin/cache/stats", headers=HEADERS).json()
        second = httpx.get(two.url + "/admin/cache/stats", headers=HEADERS).json()
        removed = httpx.post(two.url + "/admin/cache/invalidate", json={"tenant": "a"}, headers=HEADERS).json()
        still = httpx.get(one.url + "/admin/cache/stats", headers=HEADERS).json()
    assert (first["entries"], second["entries"]) == (1, 0), "each app's admin API sees its own cache"
    assert removed["removed"] == 0 and still["entries"] == 1, "invalidating one router leaves the other's cache"
