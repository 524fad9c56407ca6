"""Router settings: one pydantic model, read from a YAML file and a few environment variables.

Nothing here reads `os.environ` by itself: `load_settings(path, environ)` takes the environment as
an argument so tests inject theirs. Every key is validated with `extra="forbid"`, so a typo fails at
start-up with the key's path, the rule and the fix (see docs/runtime.md for the full reference).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.cache.settings import CacheSettings

SECONDS_PER_HOUR = Decimal(3600)


class SettingsError(ValueError):
    """The config file or environment is invalid; the message names the key, the rule and the fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DerivedPrice(_Model):
    """Price derived from what the tier's instance costs and what it serves (docs/runtime.md, "Cost")."""

    instance_hourly_usd: Decimal = Field(gt=0, description="on-demand or blended $/h of the instance")
    prompt_tokens_per_second: Decimal = Field(gt=0, description="measured aggregate prefill throughput")
    completion_tokens_per_second: Decimal = Field(gt=0, description="measured aggregate decode throughput")
    utilization: Decimal = Field(default=Decimal("0.5"), gt=0, le=1, description="busy share of paid hours")
    source: str = Field(default="", description="where the throughput numbers come from, and their date")


class Price(_Model):
    """USD per 1000 tokens. Either both per-1k prices, or `derived` (then the two are computed)."""

    prompt_per_1k: Decimal | None = Field(default=None, ge=0)
    completion_per_1k: Decimal | None = Field(default=None, ge=0)
    derived: DerivedPrice | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Price:
        given = self.prompt_per_1k is not None and self.completion_per_1k is not None
        if given == (self.derived is not None):
            raise ValueError(
                "give either prompt_per_1k and completion_per_1k, or derived: {instance_hourly_usd, "
                "prompt_tokens_per_second, completion_tokens_per_second}, not both or neither"
            )
        return self

    def per_1k(self) -> tuple[Decimal, Decimal]:
        """(prompt, completion) USD per 1k tokens: hourly price / (3600 s x tokens/s x utilization) x 1000."""
        if self.derived is None:
            assert self.prompt_per_1k is not None and self.completion_per_1k is not None, "validated above"
            return self.prompt_per_1k, self.completion_per_1k
        d = self.derived
        per_second = d.instance_hourly_usd / SECONDS_PER_HOUR
        return (
            per_second / (d.prompt_tokens_per_second * d.utilization) * 1000,
            per_second / (d.completion_tokens_per_second * d.utilization) * 1000,
        )


class LocalServer(_Model):
    """A llama-server the router starts and supervises, bound to 127.0.0.1 with its own API key."""

    model_path: Path
    binary: Path | None = Field(default=None, description="llama-server path; default: the built one")
    parallel: int = Field(default=2, ge=1, le=256, description="--parallel slots (share ctx_size)")
    ctx_size: int = Field(default=4096, ge=256)
    n_gpu_layers: int = Field(default=0, ge=-1, description="-ngl; -1 = all layers")
    port: int | None = Field(default=None, ge=1, le=65535, description="default: a free port")
    embeddings: bool = False
    extra_args: list[str] = Field(default_factory=list)
    startup_timeout_s: float = Field(default=120, gt=0)


class ReplicaSource(_Model):
    """`replicas:` a tier served by several llama-servers: a static list of base URLs, or a DNS name
    (a headless Service, `host:port`) whose A records are re-resolved every `refresh_s`."""

    urls: list[str] | None = Field(default=None, min_length=1, description="base URLs, e.g. http://10.0.0.5:8080")
    dns: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", description="host:port")
    scheme: Literal["http", "https"] = "http"
    refresh_s: float = Field(default=3, gt=0, le=300, description="discovery and health probes every this often")
    attempts: int = Field(default=3, ge=1, le=10, description="replicas tried for one call before the fallback tier")

    @model_validator(mode="after")
    def _one_source(self) -> ReplicaSource:
        if (self.urls is None) == (self.dns is None):
            raise ValueError("replicas: set exactly one of `urls` (a list of base URLs) or `dns` (host:port)")
        return self


class AdmissionSettings(_Model):
    """`admission:` per tier: in flight at most the ready replicas' slots, then a bounded queue."""

    max_queue: int = Field(default=64, ge=0, description="requests waiting for a slot; more is a 429")
    max_wait_s: float = Field(default=30, gt=0, description="longest wait for a slot; then 429 + Retry-After")
    wake_s: float = Field(
        default=300, gt=0, description="with no ready replica (scale from zero): wait this long, then 503"
    )


class DrainSettings(_Model):
    """`drain:` what SIGTERM (or POST /internal/drain) does: refuse new requests, finish the rest."""

    grace_s: float = Field(default=90, ge=0, lt=120, description="in-flight requests get this long (spot notice 120 s)")
    retry_after_s: int = Field(default=2, ge=1, le=120, description="Retry-After of a request refused while draining")


class Tier(_Model):
    """One place a request can go: a supervised local llama-server or a remote OpenAI-compatible URL."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
    local: LocalServer | None = None
    url: str | None = Field(default=None, description="remote base URL, e.g. http://llm-large:8080")
    replicas: ReplicaSource | None = Field(default=None, description="several llama-servers (list or DNS)")
    admission: AdmissionSettings = AdmissionSettings()
    api_key_env: str | None = Field(default=None, description="env var holding the remote tier's API key")
    upstream_model: str | None = Field(default=None, description="model name sent upstream")
    embeddings: bool = Field(default=False, description="a remote tier that serves /v1/embeddings")
    input_modalities: list[Literal["text", "image", "audio"]] | None = Field(
        default=None,
        description="what the tier's model accepts; default: a local tier's /props, a remote tier anything",
    )
    slots: int | None = Field(default=None, ge=1, description="parallel slots; local default: /props total_slots")
    price: Price
    max_complexity: float = Field(
        default=1.0, ge=0, le=1, description="`auto` sends a request here only if its score is at most this"
    )
    expected_latency_ms: float = Field(default=1000, gt=0, description="typical full-response latency")
    default_max_tokens: int = Field(default=512, ge=1)
    max_tokens_limit: int = Field(default=4096, ge=1, description="larger max_tokens is a 400")
    fallbacks: list[str] = Field(default_factory=list, description="tiers to try next when this one fails")
    timeout_s: float = Field(default=120, gt=0, description="whole non-streaming request")
    connect_timeout_s: float = Field(default=2, gt=0)
    stream_idle_timeout_s: float = Field(default=30, gt=0, description="longest gap between stream chunks")

    @model_validator(mode="after")
    def _one_backend(self) -> Tier:
        if [self.local, self.url, self.replicas].count(None) != 2:
            raise ValueError(
                f"tier {self.name!r}: set exactly one of `local` (a llama-server), `url` or `replicas` (urls or dns)"
            )
        return self


class TenantKey(_Model):
    """A key is given as its SHA-256 hex (preferred) or in clear (hashed at load, never kept)."""

    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    key: str | None = Field(default=None, min_length=16)

    @model_validator(mode="after")
    def _one(self) -> TenantKey:
        if (self.sha256 is None) == (self.key is None):
            raise ValueError("a key needs exactly one of `sha256` (hex digest) or `key` (clear text, >= 16 chars)")
        return self

    def digest_hex(self) -> str:
        return self.sha256 or hashlib.sha256((self.key or "").encode()).hexdigest()


class Tenant(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    keys: list[TenantKey] = Field(default_factory=list)
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    allowed_tiers: list[str] | None = Field(default=None, description="None = every tier")
    semantic_cache: bool = False
    priority: int = Field(
        default=0, ge=-100, le=100, description="place in a tier's admission queue: higher first, FIFO within one"
    )


class BudgetStoreSettings(_Model):
    """`budget:` where the ledger lives (runtime/budget)."""

    backend: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: Path = Path("frugal-spend.sqlite3")
    shared: bool = Field(
        default=False, description="several router processes share the SQLite file (transactions, slower)"
    )
    redis_url: str | None = None
    reservation_ttl_s: float = Field(default=900, gt=0, description="a reservation never settled expires")
    call_timeout_s: float = Field(
        default=0.5, gt=0, le=30, description="longest wait for one ledger call (redis, shared sqlite)"
    )
    unavailable_retry_s: float = Field(
        default=2, gt=0, le=300, description="after a ledger failure, refuse at once (503) for this long"
    )
    redis_max_connections: int = Field(
        default=64, ge=1, le=10_000, description="connection pool size; more concurrent calls wait for one"
    )
    journal_path: Path | None = Field(
        default=None, description="settlements the ledger did not take; default: <sqlite_path>.unsettled"
    )

    def journal(self) -> Path:
        return self.journal_path or self.sqlite_path.with_name(self.sqlite_path.name + ".unsettled")


class Routing(_Model):
    default_model: str = Field(default="auto", description="used when a request names no model")
    circuit_failures: int = Field(default=3, ge=1, description="consecutive failures that open a circuit")
    circuit_cooldown_s: float = Field(default=5, gt=0)


class LimitSettings(_Model):
    """`limits:` what one request may carry."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_messages: int = Field(default=512, ge=1)
    max_json_depth: int = Field(default=64, ge=2, le=200, description="deeper nesting in a body is a 400")


class MetricsSettings(_Model):
    budget_by_tenant: bool = Field(default=False, description="opt-in: one series per tenant")
    auth_key: TenantKey | None = Field(
        default=None, description="when set, GET /metrics needs `Authorization: Bearer <key>`"
    )

    @model_validator(mode="after")
    def _protected(self) -> MetricsSettings:
        if self.budget_by_tenant and self.auth_key is None:
            raise ValueError(
                "budget_by_tenant exports every tenant's remaining budget; it needs metrics.auth_key "
                "({sha256: <hex>} or {key: <clear, >= 16 chars>}, sent by the scraper as a bearer token) "
                "so /metrics is not public"
            )
        return self


class Server(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_grace_s: float = Field(
        default=15, ge=0, le=3600, description="on SIGTERM, how long requests in flight may finish"
    )
    header_timeout_s: float = Field(default=10, gt=0, le=600, description="a request's headers must arrive in this")
    body_timeout_s: float = Field(default=60, gt=0, le=3600, description="its body, after the headers, in this")
    keep_alive_timeout_s: float = Field(default=5, gt=0, le=3600, description="an idle keep-alive connection closes")
    max_connections: int = Field(default=1024, ge=1, le=1_000_000, description="more open connections get 503")
    max_header_bytes: int = Field(default=65536, ge=1024, le=16_777_216, description="larger headers get 431")


class Settings(_Model):
    server: Server = Server()
    tiers: list[Tier] = Field(min_length=1)
    aliases: dict[str, str] = Field(default_factory=dict)
    tenants: list[Tenant] = Field(default_factory=list, description="empty = no auth (local use only)")
    budget: BudgetStoreSettings = BudgetStoreSettings()
    routing: Routing = Routing()
    limits: LimitSettings = LimitSettings()
    metrics: MetricsSettings = MetricsSettings()
    drain: DrainSettings = DrainSettings()
    cache: CacheSettings = CacheSettings()
    """The response cache (docs/cache.md): exact matching on by default for deterministic requests."""

    @model_validator(mode="after")
    def _references(self) -> Settings:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        known = set(names)
        for t in self.tiers:
            for f in t.fallbacks:
                if f not in known:
                    raise ValueError(f"tier {t.name!r} falls back to unknown tier {f!r}; known: {sorted(known)}")
        for alias, target in self.aliases.items():
            if alias in known or alias == "auto":
                raise ValueError(f"alias {alias!r} shadows a tier or 'auto'; rename it")
            if target != "auto" and target not in known:
                raise ValueError(f"alias {alias!r} points to unknown tier {target!r}; known: {sorted(known)}")
        dm = self.routing.default_model
        if dm != "auto" and dm not in known and dm not in self.aliases:
            raise ValueError(f"routing.default_model {dm!r} is not a tier, an alias or 'auto'")
        tenant_names = [t.name for t in self.tenants]
        if len(set(tenant_names)) != len(tenant_names):
            raise ValueError(f"tenant names must be unique, got {tenant_names}")
        owner: dict[str, str] = {}
        for tenant in self.tenants:
            for k in tenant.keys:
                other = owner.setdefault(k.digest_hex(), tenant.name)
                if other != tenant.name:
                    raise ValueError(
                        f"tenants {other!r} and {tenant.name!r} have the same API key; requests with it "
                        "would be billed to one of them only. fix: give each tenant its own key"
                    )
        for tenant in self.tenants:
            for tier in tenant.allowed_tiers or []:
                if tier not in known:
                    raise ValueError(f"tenant {tenant.name!r} allows unknown tier {tier!r}")
        if self.budget.backend == "redis" and not self.budget.redis_url:
            raise ValueError("budget.backend is 'redis' but budget.redis_url is not set")
        return self

    def tier(self, name: str) -> Tier:
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(name)


ENV_KEYS = {
    "FRUGAL_HOST": ("server", "host"),
    "FRUGAL_PORT": ("server", "port"),
    "FRUGAL_WORKERS": ("server", "workers"),
    "FRUGAL_BUDGET_SQLITE": ("budget", "sqlite_path"),
    "FRUGAL_REDIS_URL": ("budget", "redis_url"),
}
"""Environment overrides (the file is the base); FRUGAL_API_KEYS adds tenants (`tenant:key,...`)."""


def _format_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid router config ({source}):"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    lines.append("fix: correct these keys; docs/runtime.md lists every key with its type and default")
    return "\n".join(lines)


def settings_from_dict(
    data: Mapping[str, object], environ: Mapping[str, str] | None = None, source: str = "dict"
) -> Settings:
    """Validate a config mapping plus environment overrides into Settings, or raise SettingsError."""
    merged: dict[str, object] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    env = environ or {}
    for var, (section, key) in ENV_KEYS.items():
        if var in env:
            block = merged.setdefault(section, {})
            if not isinstance(block, dict):
                raise SettingsError(f"{section} must be a mapping in {source}")
            block[key] = env[var]
            if var == "FRUGAL_REDIS_URL":
                block["backend"] = "redis"
    if env.get("FRUGAL_API_KEYS"):
        tenants = list(merged.get("tenants") or [])  # type: ignore[call-overload]
        for item in env["FRUGAL_API_KEYS"].split(","):
            name, sep, key = item.strip().partition(":")
            if not sep or not name or not key:
                raise SettingsError("FRUGAL_API_KEYS must look like 'tenant:key,tenant2:key2'")
            tenants.append({"name": name, "keys": [{"key": key}]})
        merged["tenants"] = tenants
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, source)) from None


def read_config_mapping(path: Path, fix_if_missing: str) -> dict[str, Any]:
    """A YAML config file's top-level mapping, or SettingsError saying what is wrong with the file."""
    if not path.is_file():
        raise SettingsError(f"config file {path} not found; fix: {fix_if_missing}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read a YAML config file; relative model/database paths are taken relative to the file."""
    data = read_config_mapping(path, "pass an existing YAML file to --config")
    base = path.parent.resolve()
    for tier in data.get("tiers") or []:
        local = tier.get("local") if isinstance(tier, dict) else None
        if isinstance(local, dict) and "model_path" in local:
            local["model_path"] = str(base / Path(str(local["model_path"])).expanduser())
    budget = data.get("budget")
    if isinstance(budget, dict) and "sqlite_path" in budget:
        budget["sqlite_path"] = str(base / Path(str(budget["sqlite_path"])).expanduser())
    return settings_from_dict(data, environ, source=str(path))
