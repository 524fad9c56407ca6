"""Cache configuration: one pydantic model, read from a mapping (env-style keys) in one place.

Presets are operating points of the semantic decision (cosine recall threshold, verification
rules, learned-scorer cut), measured on the QQP calibration pairs: see docs/cache.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PresetName = Literal["conservative", "balanced", "raw"]


class SemanticPolicy(BaseModel):
    """How a semantic candidate becomes a hit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(ge=0.0, le=1.0)
    """Cosine similarity a candidate needs to be considered at all."""
    verify: bool = True
    """Reject pairs that differ in numbers, ordinals, negation, antonyms or roles (verify.py)."""
    min_probability: float | None = Field(default=None, ge=0.0, le=1.0)
    """Learned scorer cut (scorer.py); None = no scorer."""


# Measured on the QQP calibration pairs with bench/cache_quality.py (docs/cache.md has the tables):
# conservative = rules + contrast check + cosine 0.965: precision 0.950 at 5.0% hits on the untuned
# 40%; balanced = the same at cosine 0.93: 0.875 at 10.0% (raw cosine at the tutorial's 0.95: 0.837
# at 8.4%). The learned scorer did not improve held-out precision at equal hit rate,
# so no preset uses it; min_probability turns it on.
PRESETS: dict[str, SemanticPolicy] = {
    "conservative": SemanticPolicy(threshold=0.965, verify=True),
    "balanced": SemanticPolicy(threshold=0.93, verify=True),
    "raw": SemanticPolicy(threshold=0.95, verify=False),
}


class CacheSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    ttl_seconds: float = Field(default=3600.0, gt=0)
    max_bytes: int = Field(default=256 * 2**20, gt=0)
    """Local memory budget for all entries (answers, texts, vectors, index share)."""
    deterministic_only: bool = True
    """Cache only requests with temperature 0 or a seed."""
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    """Larger answers are not stored."""
    semantic_enabled: bool = True
    """Allow semantic matching for tenants that opt in (CacheRequest.semantic_enabled)."""
    preset: PresetName = "conservative"
    semantic_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Overrides the preset's cosine threshold for everyone."""
    tenant_thresholds: dict[str, float] = Field(default_factory=dict)
    """Per-tenant cosine threshold (a CacheRequest.similarity_threshold wins over this)."""
    disabled_tenants: frozenset[str] = frozenset()
    """Tenants that opted out: never read nor written."""
    index_dtype: Literal["f32", "f16", "i8"] = "f32"
    embed_max_batch: int = Field(default=16, ge=1, le=1024)
    """Most lookups one embedding run serves (micro-batching; docs/cache.md)."""
    embed_max_in_flight: int | None = Field(default=None, ge=1, le=64)
    """Embedding runs at once, each on one core; None = the cores the process may run on (its
    affinity mask: under a container CPU limit below the node's cores, set the limit here)."""
    embed_group: int = Field(default=16, ge=1, le=1024)
    """Most texts in one model run: a batch is cut into runs by token count where padding and the
    per-run cost are least (embedder.plan_groups)."""
    embed_max_wait_ms: float = Field(default=0.0, ge=0, le=1000)
    """0: a lookup that finds a free embedding slot starts at once; > 0: a batch smaller than
    embed_max_batch waits this long for companions (latency traded for larger batches)."""
    snapshot_dir: Path | None = None
    """Where the snapshot and index files live; None = memory only."""
    snapshot_interval_seconds: float = Field(default=60.0, gt=0)
    redis_url: str | None = None
    redis_prefix: str = "frugal:cache"
    redis_timeout_ms: float = Field(default=50.0, gt=0)
    redis_stream_maxlen: int = Field(default=100_000, gt=0)
    redis_retry_seconds: float = Field(default=5.0, ge=0)
    """After a Redis failure, skip Redis for this long (no added latency while it is down)."""
    admin_key: str | None = Field(default=None, min_length=16)
    """As strong as a tenant key (at least 16 characters): it can wipe every tenant's cache."""
    replica_id: str | None = None
    """Names this process in the shared stream (default: a random id per start)."""

    @field_validator("tenant_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {t: v for t, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"tenant thresholds must be cosine values in [0, 1]; got {bad}")
        return value

    def policy(self, tenant: str, override: float | None = None) -> SemanticPolicy:
        base = PRESETS[self.preset]
        threshold = override if override is not None else self.tenant_thresholds.get(tenant, self.semantic_threshold)
        return base if threshold is None else base.model_copy(update={"threshold": threshold})


ENV_PREFIX = "FRUGAL_CACHE_"


def settings_from_env(environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> CacheSettings:
    """FRUGAL_CACHE_TTL_SECONDS=600, FRUGAL_CACHE_DISABLED_TENANTS=a,b, FRUGAL_CACHE_TENANT_THRESHOLDS=a=0.9,b=0.95."""
    values: dict[str, object] = {}
    fields = CacheSettings.model_fields
    for key, raw in environ.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :].lower()
        if name not in fields:
            raise ValueError(f"{key}: unknown cache setting; fix: use one of {sorted(f.upper() for f in fields)}")
        if name == "disabled_tenants":
            values[name] = frozenset(t.strip() for t in raw.split(",") if t.strip())
        elif name == "tenant_thresholds":
            pairs = [p.split("=", 1) for p in raw.split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(f"{key}={raw!r}: expected tenant=threshold,...; fix: e.g. acme=0.92,globex=0.95")
            values[name] = {t.strip(): float(v) for t, v in pairs}
        else:
            values[name] = raw
    try:
        return CacheSettings.model_validate(values)
    except ValidationError as exc:
        raise ValueError(f"invalid cache settings from the environment: {exc}") from exc
