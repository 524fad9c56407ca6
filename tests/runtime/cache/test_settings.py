"""Cache settings: presets, per-tenant thresholds, environment parsing with clear errors."""

from __future__ import annotations

import pytest

from runtime.cache.scorer import Scorer
from runtime.cache.settings import PRESETS, CacheSettings, settings_from_env


def test_the_threshold_comes_from_request_then_tenant_then_global_then_preset() -> None:
    s = CacheSettings(preset="balanced", semantic_threshold=0.95, tenant_thresholds={"acme": 0.97})
    assert s.policy("other").threshold == 0.95, "the global override beats the preset"
    assert s.policy("acme").threshold == 0.97, "a tenant's threshold beats the global one"
    assert s.policy("acme", 0.99).threshold == 0.99, "the request's threshold beats them all"
    assert CacheSettings().policy("x") == PRESETS["conservative"], "the default is the conservative preset"


def test_settings_are_read_from_the_environment() -> None:
    s = settings_from_env(
        {
            "FRUGAL_CACHE_TTL_SECONDS": "600",
            "FRUGAL_CACHE_DISABLED_TENANTS": "a, b",
            "FRUGAL_CACHE_TENANT_THRESHOLDS": "acme=0.9,globex=0.95",
            "UNRELATED": "x",
        }
    )
    assert s.ttl_seconds == 600 and s.disabled_tenants == {"a", "b"}, "scalars and sets parse"
    assert s.tenant_thresholds == {"acme": 0.9, "globex": 0.95}, "tenant thresholds parse"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FRUGAL_CACHE_TTL": "5"}, "unknown cache setting"),
        ({"FRUGAL_CACHE_TENANT_THRESHOLDS": "acme"}, "tenant=threshold"),
        ({"FRUGAL_CACHE_MAX_BYTES": "-1"}, "invalid cache settings"),
        ({"FRUGAL_CACHE_TENANT_THRESHOLDS": "acme=1.5"}, "invalid cache settings"),
    ],
)
def test_bad_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_env(env)


def test_the_shipped_scorer_loads_and_gives_probabilities() -> None:
    p = Scorer.load().probability("How do I reset my password?", "How can I reset my password?", 0.97)
    assert 0.0 < p < 1.0, f"the fitted scorer returns a probability (got {p})"


def test_micro_batching_settings_are_read_from_the_environment_and_bounded() -> None:
    s = settings_from_env({"FRUGAL_CACHE_EMBED_MAX_IN_FLIGHT": "3", "FRUGAL_CACHE_EMBED_GROUP": "8"})
    assert (s.embed_max_in_flight, s.embed_group) == (3, 8), "the batcher's slots and group size parse"
    default = CacheSettings()
    assert default.embed_max_wait_ms == 0 and default.embed_max_in_flight is None, (
        "by default a lookup never waits for companions and every core may run a batch"
    )
    for name, bad in (("EMBED_MAX_IN_FLIGHT", "0"), ("EMBED_MAX_BATCH", "0"), ("EMBED_MAX_WAIT_MS", "-1")):
        with pytest.raises(ValueError, match=name.lower()):
            settings_from_env({f"FRUGAL_CACHE_{name}": bad})
