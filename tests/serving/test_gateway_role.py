"""The gateway role's start-up: tenant keys merged from the Secret's file into the declared tenants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runtime.auth import KeyStore
from runtime.gateway_role import KEYS_ENV, load, with_tenant_keys
from runtime.settings import SettingsError
from tests.serving.manifests import stack

KEY = "sk-dev-team-0123456789abcdef"


def _config(tmp_path: Path) -> Path:
    from infra.serving_gateway import router_config

    data = router_config(stack("dev"))
    data["budget"]["sqlite_path"] = str(tmp_path / "spend.sqlite3")
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_keys_from_the_secret_file_join_their_declared_tenant(tmp_path: Path):
    keys = tmp_path / "tenant-keys.json"
    keys.write_text(json.dumps({"dev-team": KEY}))
    settings = load(_config(tmp_path), {}, keys)
    (tenant,) = settings.tenants
    assert tenant.name == "dev-team" and tenant.daily_budget_usd == 5, "the declared tenant keeps its budget"
    store = KeyStore(list(settings.tenants))
    assert store.authenticate(f"Bearer {KEY}").name == "dev-team", "and its key from the Secret authenticates it"


def test_the_environment_variable_works_when_no_file_is_given(tmp_path: Path):
    settings = load(_config(tmp_path), {KEYS_ENV: json.dumps({"dev-team": KEY})})
    assert settings.tenants[0].keys, "FRUGAL_TENANT_KEYS is the fallback"


def test_a_key_for_an_undeclared_tenant_is_refused():
    with pytest.raises(SettingsError, match=r"tenants the config does not declare: \['typo-team'\]"):
        with_tenant_keys({"tenants": [{"name": "dev-team"}]}, json.dumps({"typo-team": KEY}))


def test_keys_that_are_not_a_json_object_are_refused():
    with pytest.raises(SettingsError, match="not JSON"):
        with_tenant_keys({"tenants": []}, "dev-team:" + KEY)
    with pytest.raises(SettingsError, match="JSON object of tenant name to key"):
        with_tenant_keys({"tenants": []}, json.dumps(["dev-team", KEY]))


def test_a_missing_keys_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="mount the tenant-keys Secret"):
        load(_config(tmp_path), {}, tmp_path / "absent.json")
