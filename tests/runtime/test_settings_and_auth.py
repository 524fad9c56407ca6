"""Config validation, key handling, cost formula and the small-model assets."""

from __future__ import annotations

import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from runtime.accounting import TierPrice, prompt_token_bound
from runtime.assets import AssetError, llama_server_binary, restore_symlinks
from runtime.auth import KeyStore
from runtime.errors import AuthenticationError
from runtime.settings import Price, SettingsError, Tenant, load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[2]
TIER = {"name": "small", "url": "http://x", "price": {"prompt_per_1k": "0.1", "completion_per_1k": "0.2"}}


def test_the_example_config_is_valid() -> None:
    s = load_settings(ROOT / "runtime" / "router.example.yaml", {})
    assert s.tiers[0].local is not None and s.tiers[0].local.n_gpu_layers == -1, "the example offloads every layer"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"tiers": []}, "tiers"),
        ({"tiers": [{**TIER, "colour": "red"}]}, "tiers.0.colour"),
        ({"tiers": [{**TIER, "url": None}]}, "exactly one of `local`"),
        ({"tiers": [{**TIER, "price": {"prompt_per_1k": "0.1"}}]}, "prompt_per_1k and completion_per_1k"),
        ({"tiers": [TIER, TIER]}, "unique"),
        ({"tiers": [{**TIER, "fallbacks": ["nope"]}]}, "unknown tier 'nope'"),
        ({"tiers": [TIER], "aliases": {"x": "nope"}}, "unknown tier 'nope'"),
        ({"tiers": [TIER], "routing": {"circuit_failures": 0}}, "routing.circuit_failures"),
        ({"tiers": [TIER], "budget": {"backend": "redis"}}, "redis_url"),
    ],
)
def test_an_invalid_config_names_the_key_and_the_fix(data: dict[str, object], needle: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings_from_dict(data, {})
    assert needle in str(err.value), f"the error names {needle!r}: {err.value}"
    assert "docs/runtime.md" in str(err.value), "the error points to the reference"


def test_environment_overrides_the_file_and_adds_keys(tmp_path: Path) -> None:
    env = {
        "FRUGAL_PORT": "9001",
        "FRUGAL_API_KEYS": "team:sk-0123456789abcdefgh",
        "FRUGAL_BUDGET_SQLITE": str(tmp_path / "b.db"),
    }
    s = settings_from_dict({"tiers": [TIER]}, env)
    assert s.server.port == 9001 and s.budget.sqlite_path == tmp_path / "b.db", "env overrides the file"
    assert [t.name for t in s.tenants] == ["team"], "FRUGAL_API_KEYS adds a tenant"
    with pytest.raises(SettingsError, match="FRUGAL_API_KEYS"):
        settings_from_dict({"tiers": [TIER]}, {"FRUGAL_API_KEYS": "no-colon"})


def test_a_missing_config_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="--config"):
        load_settings(tmp_path / "nope.yaml", {})


def test_keys_are_kept_hashed_and_matched_by_digest() -> None:
    clear = "sk-clear-0123456789abcdef"
    hashed = "sk-hashed-0123456789abcdef"
    store = KeyStore([
        Tenant(name="a", keys=[{"key": clear}]),
        Tenant(name="b", keys=[{"sha256": hashlib.sha256(hashed.encode()).hexdigest()}]),
    ])  # fmt: skip
    assert store.authenticate(f"Bearer {clear}").name == "a", "a clear key matches its tenant"
    assert store.authenticate(f"Bearer {hashed}").name == "b", "a key given as its digest matches"
    kept = [d for bucket in store._buckets.values() for d, _ in bucket]
    assert all(len(d) == 32 for d in kept) and clear.encode() not in b"".join(kept), "only digests are kept"
    with pytest.raises(AuthenticationError):
        store.authenticate(f"Bearer {clear}x")
    with pytest.raises(AuthenticationError):
        store.authenticate(f"Basic {clear}")


def test_the_derived_price_follows_the_documented_formula() -> None:
    p = Price(
        derived={
            "instance_hourly_usd": "3.6",
            "prompt_tokens_per_second": 1000,
            "completion_tokens_per_second": 100,
            "utilization": "0.5",
        }
    )
    prompt, completion = p.per_1k()
    # $3.6/h = $0.001/s; at 50% busy, 100 completion tokens/s -> 50 paid tokens/s -> $0.00002/token
    assert completion == Decimal("0.02") and prompt == Decimal("0.002"), f"per-1k prices: {prompt}, {completion}"
    assert TierPrice(prompt, completion).cost(1000, 500) == Decimal("0.012"), "cost = p/1k x 0.002 + c/1k x 0.02"


def test_the_prompt_bound_is_never_below_the_utf8_length() -> None:
    msgs = [
        {"role": "user", "content": "héllo wörld " * 10},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]
    bound = prompt_token_bound(msgs)
    assert bound >= len(("héllo wörld " * 10).encode()) + 2, "every byte could be its own token"


def test_restoring_symlinks_is_idempotent_and_replaces_copies(tmp_path: Path) -> None:
    (tmp_path / "libllama.so.0.6.0").write_bytes(b"real")
    (tmp_path / "libllama.so.0").write_bytes(b"a stale copy")
    (tmp_path / "_symlinks.json").write_text(
        json.dumps({"libllama.so.0": "libllama.so.0.6.0", "libllama.so": "libllama.so.0"})
    )
    first = restore_symlinks(tmp_path)
    second = restore_symlinks(tmp_path)
    assert sorted(first) == ["libllama.so", "libllama.so.0"], f"both links made, the copy replaced: {first}"
    assert second == [], "a second run changes nothing"
    assert (tmp_path / "libllama.so").read_bytes() == b"real", "the chain resolves to the real library"
    assert os.readlink(tmp_path / "libllama.so.0") == "libllama.so.0.6.0", "links are relative, as listed"


def test_a_bad_llama_server_override_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="FRUGAL_LLAMA_SERVER"):
        llama_server_binary({"FRUGAL_LLAMA_SERVER": str(tmp_path / "missing")})
