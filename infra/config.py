"""The stack's typed configuration: the only reader of `pulumi.Config` in the project.

`load()` reads every key of the `frugal-llm` namespace (and `aws:region`), validates the whole
stack before a single resource is declared, and returns one frozen `StackConfig`. Components take
parts of that model, never config keys. The models import nothing from Pulumi, so the cost model,
the policy pack and the tests use them without an engine.

Every error names the key, the bad value, the rule and the fix (`ConfigError`).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.catalog import EKS_EXTENDED_SUPPORT_ENDS, EKS_STANDARD_SUPPORT_ENDS, InstanceType, load_catalog
from infra.schedule import WEEKDAYS, Action, Capacity, Window, capacity_by_hour, coverage_problems

PROJECT = "frugal-llm"
# Keys read from the project namespace; anything else under `frugal-llm:` is a typo we report.
TOP_LEVEL_KEYS = (
    "region",
    "tags",
    "network",
    "cluster",
    "pools",
    "schedule",
    "budget",
    "anomaly",
    "cache",
    "platform",
    "serving",
)
# Secret keys (`pulumi config set --secret`): read as secret Outputs, never into the plain model.
SECRET_KEYS = ("serving_api_keys",)
SPOT_DIVERSITY_ADVICE = 10
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _catalog_types(types: list[str], example: str) -> list[tuple[str, InstanceType]]:
    """Each instance type once, each in the price catalog, with its catalog entry."""
    if len(set(types)) != len(types):
        raise ValueError("rule: each instance type once; fix: remove the duplicates")
    catalog = load_catalog()
    found = []
    for itype in types:
        spec = catalog.get(itype)
        if spec is None:
            raise ValueError(
                f"{itype!r} is not an EC2 instance type in the {catalog.region} catalog; "
                f"fix: check the spelling (e.g. {example})"
            )
        found.append((itype, spec))
    return found


class ConfigError(ValueError):
    """A stack configuration that cannot be deployed; the message lists every problem found."""

    def __init__(self, stack: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack '{stack}' has {len(problems)} configuration error(s):\n{lines}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Tags(_Model):
    project: str = Field(min_length=1, max_length=256)
    environment: Literal["dev", "staging", "prod"]
    owner: str = Field(min_length=1, max_length=256)
    cost_center: str = Field(min_length=1, max_length=256)

    def as_aws(self) -> dict[str, str]:
        """The cost-allocation tags as AWS keys; the budget filters on these."""
        return {
            "project": self.project,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
        }


class NewVpc(_Model):
    cidr: str = "10.0.0.0/16"
    az_count: int = Field(default=2, ge=2, le=6, description="EKS needs subnets in at least two AZs")
    nat_gateways: int = Field(default=1, ge=1, le=6)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"rule: an IPv4 network such as 10.0.0.0/16 ({exc}); fix: use a valid CIDR") from exc
        if not 16 <= net.prefixlen <= 20:
            raise ValueError(
                "rule: the VPC must be between /16 and /20, room for a public and a private subnet per AZ "
                "with enough addresses for pod IPs (VPC CNI); fix: choose a /16-/20 block"
            )
        if not net.is_private:
            raise ValueError("rule: the VPC CIDR must be a private (RFC 1918) range; fix: use e.g. 10.0.0.0/16")
        return v

    @model_validator(mode="after")
    def _nat_within_azs(self) -> NewVpc:
        if self.nat_gateways > self.az_count:
            raise ValueError(
                f"nat_gateways={self.nat_gateways} exceeds az_count={self.az_count}; rule: at most one NAT "
                "gateway per AZ; fix: lower nat_gateways (1 for dev saves $32.85/month each)"
            )
        return self


class ExistingVpc(_Model):
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(min_length=2)
    public_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = []


class ClusterConfig(_Model):
    kubernetes_version: str = "1.35"
    endpoint_public_access_cidrs: list[str] = Field(min_length=1)
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365] = 30
    log_types: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        # One calendar for validation and pricing: a version EKS no longer runs at all is an error; one
        # past standard support still deploys but at 6x the control-plane price (the plan warns).
        today = date.today()
        usable = [ver for ver, end in EKS_EXTENDED_SUPPORT_ENDS.items() if end >= today]
        if v not in usable:
            raise ValueError(
                f"rule: a version EKS still supports on {today.isoformat()} ({', '.join(usable)}); "
                "fix: pick one, preferably in standard support"
            )
        return v

    @property
    def in_extended_support(self) -> bool:
        """Past standard support: $0.60 instead of $0.10 per cluster-hour."""
        return EKS_STANDARD_SUPPORT_ENDS[self.kubernetes_version] < date.today()

    @field_validator("endpoint_public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR; fix: write e.g. 203.0.113.0/24") from exc
            if net.prefixlen == 0:
                raise ValueError(
                    f"{cidr!r} opens the Kubernetes API to the whole internet; rule: a restricted public "
                    "endpoint; fix: list your office/VPN/CI egress ranges"
                )
        return v


class Taint(_Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


GPU_TAINT = Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule")


class PoolConfig(_Model):
    name: str
    tier: str = Field(min_length=1, description="the runtime tier (model size) this pool serves")
    instance_types: list[str] = Field(min_length=1, max_length=20)
    min_size: int = Field(default=0, ge=0)
    max_size: int = Field(ge=1, le=100)
    desired_capacity: int = Field(default=0, ge=0)
    on_demand_base_capacity: int = Field(default=0, ge=0)
    on_demand_percentage_above_base: int = Field(default=0, ge=0, le=100)
    spot_allocation_strategy: Literal[
        "price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "lowest-price"
    ] = "price-capacity-optimized"
    root_volume_gib: int = Field(default=100, ge=30, le=16384)
    labels: dict[str, str] = {}
    taints: list[Taint] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("rule: 2-32 lowercase letters, digits and '-', starting with a letter; fix: rename it")
        return v

    @field_validator("instance_types")
    @classmethod
    def _gpu_types(cls, v: list[str]) -> list[str]:
        for itype, spec in _catalog_types(v, example="g5.xlarge"):
            if reason := spec.usable_gpu_reason:
                raise ValueError(f"{itype!r} cannot serve GPU pods: {reason}; fix: use a g4dn/g5/g6/g6e/p4/p5 type")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not _LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key; fix: e.g. frugal.dev/tier")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> PoolConfig:
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"min_size={self.min_size}, desired_capacity={self.desired_capacity}, max_size={self.max_size}; "
                "rule: min_size <= desired_capacity <= max_size; fix: adjust the three sizes"
            )
        if self.on_demand_base_capacity > self.max_size:
            raise ValueError(
                f"on_demand_base_capacity={self.on_demand_base_capacity} exceeds max_size={self.max_size}; "
                "rule: the on-demand base must fit in the group; fix: lower it"
            )
        return self

    @property
    def is_spot(self) -> bool:
        """True when any capacity above the on-demand base can be spot."""
        return self.on_demand_percentage_above_base < 100

    @property
    def all_taints(self) -> list[Taint]:
        return [GPU_TAINT, *[t for t in self.taints if t.key != GPU_TAINT.key]]


class PoolCapacity(_Model):
    """Sizes a period sets on one pool. An omitted size is left as it was (the API's -1)."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    desired: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _coherent(self) -> PoolCapacity:
        if self.min is None and self.max is None and self.desired is None:
            raise ValueError("rule: set at least one of min, max, desired; fix: e.g. {desired: 0, min: 0}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min={self.min} > max={self.max}; rule: min <= max; fix: swap or lower min")
        if self.desired is not None:
            if self.min is not None and self.desired < self.min:
                raise ValueError(f"desired={self.desired} < min={self.min}; rule: min <= desired; fix: raise desired")
            if self.max is not None and self.desired > self.max:
                raise ValueError(f"desired={self.desired} > max={self.max}; rule: desired <= max; fix: lower desired")
        return self


class Period(_Model):
    name: str
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=24, description="exclusive; <= start_hour runs past midnight")
    capacity: dict[str, PoolCapacity] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("rule: lowercase letters, digits and '-'; fix: e.g. peak, shoulder, off")
        return v

    @field_validator("days")
    @classmethod
    def _unique_days(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("rule: each day once; fix: remove the repeated day")
        return sorted(v, key=WEEKDAYS.index)

    @property
    def window(self) -> Window:
        return Window(self.name, tuple(self.days), self.start_hour, self.end_hour % 24)


class ScheduleConfig(_Model):
    time_zone: str
    periods: list[Period] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            close = difflib.get_close_matches(v, sorted(available_timezones()), n=3, cutoff=0.8)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"rule: an IANA time zone such as Europe/Berlin; fix: correct it{hint}") from exc
        return v

    @model_validator(mode="after")
    def _covers_week_once(self) -> ScheduleConfig:
        names = [p.name for p in self.periods]
        if len(set(names)) != len(names):
            raise ValueError("rule: period names are unique; fix: rename the duplicate period")
        if problems := coverage_problems([p.window for p in self.periods]):
            raise ValueError(
                "rule: the periods cover every hour of the week exactly once; "
                + "; ".join(problems)
                + "; fix: adjust days/start_hour/end_hour"
            )
        return self


class BudgetGuardConfig(_Model):
    """Opt-in, non-prod only: on a FORECASTED budget breach, cap the GPU groups' max_size."""

    enabled: bool = False
    gpu_max_size: int = Field(default=0, ge=0, le=100, description="the cap the guard lowers max_size to")


class BudgetConfig(_Model):
    monthly_limit_usd: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    actual_thresholds_pct: list[Annotated[int, Field(gt=0, le=1000)]] = [50, 80, 100]
    forecasted_thresholds_pct: list[Annotated[int, Field(gt=0, le=1000)]] = [100]
    subscribers: list[str] = Field(min_length=1, max_length=10)
    slack_webhook_secret_name: str | None = None
    guard: BudgetGuardConfig = BudgetGuardConfig()

    @field_validator("subscribers")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for address in v:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address; fix: e.g. ml-platform@example.com")
        return v

    @model_validator(mode="after")
    def _limits(self) -> BudgetConfig:
        if not self.actual_thresholds_pct or not self.forecasted_thresholds_pct:
            raise ValueError(
                "rule: at least one ACTUAL and one FORECASTED threshold, or alerts come after the money is gone; "
                "fix: e.g. actual_thresholds_pct: [50, 80, 100], forecasted_thresholds_pct: [100]"
            )
        total = len(self.actual_thresholds_pct) + len(self.forecasted_thresholds_pct)
        if total > 10:
            raise ValueError(f"{total} notifications; rule: AWS Budgets allows at most 10 per budget; fix: drop some")
        if self.guard.enabled and not self.slack_webhook_secret_name:
            raise ValueError(
                "guard.enabled is true without slack_webhook_secret_name; rule: the guard runs in the Slack "
                "forwarder and its action is announced in the Slack message; fix: set slack_webhook_secret_name "
                "or disable the guard"
            )
        return self


class SharedCacheConfig(_Model):
    """The router replicas' shared response cache (ElastiCache); off unless a stack enables it."""

    enabled: bool = False
    engine: Literal["valkey", "redis"] = "valkey"
    node_type: str = Field(default="cache.t4g.small", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    replicas: int = Field(default=1, ge=0, le=5, description="read replicas besides the primary")
    snapshot_retention_days: int = Field(default=1, ge=0, le=35)


# --- serving: model servers per tier on the GPU pools, the gateway on the system nodes ----------
# Digests, sizes and the KV-cache shape of a model are what the stack pins and sizes pods from;
# the arithmetic lives in infra/serving_sizing.py (pure), the manifests in infra/serving_manifests.py.

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(\S+)$")
_IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_REFERENCE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$")
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
QUANTIZED_KV_TYPES = ("q8_0", "q4_0")


class ModelShape(_Model):
    """The attention layout that sizes the KV cache (GGUF keys `<arch>.block_count`,
    `<arch>.attention.head_count_kv` and the key length); read from the file for a local model."""

    layers: int = Field(ge=1, le=512)
    kv_heads: int = Field(ge=1, le=1024)
    head_dim: int = Field(ge=1, le=4096)


class ModelSource(_Model):
    """One GGUF file: a local path that `pulumi up` uploads, or an existing s3:// object.

    Either way the stack pins its sha256 and size: for a local file both are computed at plan
    time (infra/serving_sizing.py, cached by path, size and mtime); an s3:// object must state them.
    """

    name: str = Field(description="the model name the gateway sends upstream, e.g. llama-3.1-8b-q4_k_m")
    local_path: str | None = None
    s3_uri: str | None = None
    sha256: str | None = None
    size_bytes: int | None = Field(default=None, ge=1)
    shape: ModelShape | None = None

    @field_validator("name")
    @classmethod
    def _model_name(cls, v: str) -> str:
        if not _MODEL_NAME.match(v):
            raise ValueError("rule: lowercase letters, digits, '.', '_' and '-'; fix: e.g. llama-3.1-8b-q4_k_m")
        return v

    @field_validator("s3_uri")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        if v is not None and not _S3_URI.match(v):
            raise ValueError("rule: s3://<bucket>/<key>; fix: e.g. s3://my-models/llama-3.1-8b-q4_k_m.gguf")
        return v

    @field_validator("sha256")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v):
            raise ValueError("rule: 64 lowercase hex digits; fix: paste the output of `sha256sum model.gguf`")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        if (self.local_path is None) == (self.s3_uri is None):
            raise ValueError("rule: exactly one of local_path or s3_uri; fix: keep the one the model comes from")
        if self.s3_uri is not None and (self.sha256 is None or self.size_bytes is None or self.shape is None):
            raise ValueError(
                f"s3_uri {self.s3_uri} without sha256, size_bytes and shape; rule: an object the stack did not upload "
                "is pinned by its digest and size, and its KV-cache shape sizes the pods; fix: set them "
                "(`sha256sum`, `stat -c %s`, and layers/kv_heads/head_dim from the GGUF header)"
            )
        return self

    @property
    def s3_bucket_and_key(self) -> tuple[str, str]:
        match = _S3_URI.match(self.s3_uri or "")
        if match is None:
            raise ValueError(f"model {self.name} is not an s3:// object")
        return match.group(1), match.group(2)


class TierReplicas(_Model):
    min: int = Field(default=0, ge=0, le=100)
    max: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _order(self) -> TierReplicas:
        if self.min > self.max:
            raise ValueError(f"min={self.min} > max={self.max}; rule: min <= max; fix: lower min or raise max")
        return self


class TierThroughput(_Model):
    """Aggregate tokens per second one replica serves: with the pool's price it sets the price per token."""

    prompt_tokens_per_second: Decimal = Field(gt=0)
    completion_tokens_per_second: Decimal = Field(gt=0)
    utilization: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    source: str = Field(min_length=1, description="where the figures come from and when they were measured")


class ServingTier(_Model):
    name: str
    pool: str = Field(description="the GPU pool (pools[].name) whose nodes run this tier's model servers")
    model: ModelSource
    ctx_size: int = Field(default=8192, ge=512, le=1_048_576, description="llama-server --ctx-size: all slots")
    parallel: int = Field(default=4, ge=1, le=256, description="llama-server --parallel slots")
    n_gpu_layers: int = Field(default=-1, ge=-1, description="-1 = every layer on the GPU")
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] = "f16"
    flash_attn: bool = True
    replicas: TierReplicas
    capacity: Literal["spot", "on-demand"] = Field(
        default="spot", description="spot: prefers spot nodes, tolerates on-demand; on-demand: requires on-demand"
    )
    throughput: TierThroughput
    max_complexity: float = Field(default=1.0, ge=0, le=1)
    fallbacks: list[str] = []

    @field_validator("name")
    @classmethod
    def _tier_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("rule: 2-32 lowercase letters, digits and '-', starting with a letter; fix: e.g. small")
        return v

    @model_validator(mode="after")
    def _kv_needs_flash(self) -> ServingTier:
        if self.kv_cache_type in QUANTIZED_KV_TYPES and not self.flash_attn:
            raise ValueError(
                f"kv_cache_type={self.kv_cache_type} with flash_attn=false; rule: llama.cpp quantizes the V cache "
                "only with flash attention; fix: set flash_attn: true or kv_cache_type: f16"
            )
        if self.ctx_size < self.parallel * 256:
            raise ValueError(
                f"ctx_size={self.ctx_size} for parallel={self.parallel}; rule: every slot gets ctx_size/parallel "
                "tokens, at least 256; fix: raise ctx_size or lower parallel"
            )
        return self


class ImageConfig(_Model):
    """The runtime image (both roles), pinned by digest: in the stack's ECR repository, or anywhere."""

    digest: str | None = Field(default=None, description="sha256:... of an image pushed to the stack's repository")
    reference: str | None = Field(default=None, description="registry/repository@sha256:... elsewhere")

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE_DIGEST.match(v):
            raise ValueError("rule: sha256:<64 hex>; fix: the digest `docker push` printed")
        return v

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE_REFERENCE.match(v):
            raise ValueError(
                "rule: registry/repository@sha256:<64 hex>, a tag alone can move under a running stack; "
                "fix: pin the digest (`docker buildx imagetools inspect <ref>`)"
            )
        return v

    @model_validator(mode="after")
    def _one(self) -> ImageConfig:
        if (self.digest is None) == (self.reference is None):
            raise ValueError("rule: exactly one of digest or reference; fix: keep one")
        return self


class GatewayTenant(_Model):
    """A tenant of the gateway; its API keys come from the secret `serving_api_keys`."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    allowed_tiers: list[str] | None = None
    semantic_cache: bool = False
    priority: int = Field(default=0, ge=-100, le=100)
    """Place in a full tier's admission queue: higher first (interactive over batch)."""


class GatewayConfig(_Model):
    replicas: int = Field(default=1, ge=1, le=20)
    cpu: str = "500m"
    memory: str = "1Gi"
    exposure: Literal["cluster-ip", "internal-nlb"] = Field(
        default="cluster-ip", description="cluster-ip: in-cluster clients only; internal-nlb: the VPC"
    )
    tenants: list[GatewayTenant] = []
    drain_seconds: int = Field(default=25, ge=1, le=110, description="preStop wait before SIGTERM")

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, v: str) -> str:
        if not _QUANTITY.match(v):
            raise ValueError("rule: a Kubernetes quantity such as 500m, 1, 512Mi or 2Gi; fix: correct it")
        return v


class ServingConfig(_Model):
    namespace: str = Field(default="frugal", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    image: ImageConfig
    tiers: list[ServingTier] = Field(min_length=1)
    gateway: GatewayConfig = GatewayConfig()


def serving_problems(cfg: StackConfig) -> list[str]:
    """Rules across the serving section and the rest of the stack, each with key, value, rule and fix."""
    from infra.serving_sizing import gpu_fit_problem

    serving = cfg.serving
    if serving is None:
        return []
    problems: list[str] = []
    key = f"{PROJECT}:serving"
    pools = {p.name: p for p in cfg.pools}
    names = [t.name for t in serving.tiers]
    if len(set(names)) != len(names):
        problems.append(f"{key}.tiers: got {names}; rule: tier names are unique; fix: rename the duplicate")
    for i, tier in enumerate(serving.tiers):
        at = f"{key}.tiers.{i}"
        pool = pools.get(tier.pool)
        if pool is None:
            problems.append(
                f"{at}.pool: got {tier.pool!r}; rule: a pool of this stack; fix: use one of {', '.join(pools)}"
            )
            continue
        if pool.tier != tier.name:
            problems.append(
                f"{at}.pool: {tier.pool!r} serves tier {pool.tier!r}, not {tier.name!r}; rule: a pool's nodes are "
                f"labelled with the tier it serves; fix: set pools[{pool.name}].tier to {tier.name!r} or use its pool"
            )
        on_demand_possible = pool.on_demand_base_capacity > 0 or pool.on_demand_percentage_above_base > 0
        if tier.capacity == "on-demand" and not on_demand_possible:
            problems.append(
                f"{at}.capacity: got 'on-demand' on pool {pool.name!r}, which launches only spot nodes; rule: an "
                "on-demand tier needs on-demand capacity; fix: raise pools[].on_demand_base_capacity or use spot"
            )
        if tier.capacity == "spot" and not pool.is_spot:
            problems.append(
                f"{at}.capacity: got 'spot' on pool {pool.name!r}, which launches only on-demand nodes; rule: the "
                "tier's policy matches what its pool launches; fix: set capacity: on-demand"
            )
        slots = pool.max_size * min(gpus_for(t) for t in pool.instance_types)
        if tier.replicas.max > slots:
            problems.append(
                f"{at}.replicas.max: got {tier.replicas.max}; rule: at most one model server per GPU the pool can "
                f"have ({pool.max_size} nodes x the fewest GPUs per node = {slots}); fix: lower it or raise "
                "pools[].max_size"
            )
        if (problem := gpu_fit_problem(tier, pool.instance_types)) is not None:
            problems.append(f"{at}: {problem}")
        for fallback in tier.fallbacks:
            if fallback not in names or fallback == tier.name:
                problems.append(
                    f"{at}.fallbacks: got {fallback!r}; rule: another tier of serving.tiers; fix: use one of {names}"
                )
    gateway = serving.gateway
    if gateway.replicas > 1 and not cfg.cache.enabled:
        problems.append(
            f"{key}.gateway.replicas: got {gateway.replicas} without cache.enabled; rule: replicas share tenant "
            "budgets through the stack's ElastiCache, a single replica keeps them in its own SQLite file; fix: "
            "set cache.enabled: true or gateway.replicas: 1"
        )
    if cfg.tags.environment == "prod" and gateway.replicas < 2:
        problems.append(
            f"{key}.gateway.replicas: got {gateway.replicas} in a prod stack; rule: at least 2, so a node's loss "
            "or a rollout never takes the endpoint down; fix: replicas: 2 (with cache.enabled)"
        )
    for tenant in gateway.tenants:
        for tier_name in tenant.allowed_tiers or []:
            if tier_name not in names:
                problems.append(
                    f"{key}.gateway.tenants[{tenant.name}].allowed_tiers: got {tier_name!r}; rule: a tier of "
                    f"serving.tiers; fix: use one of {names}"
                )
    return problems


PROJECT_DIR = Path(__file__).resolve().parent.parent
"""Where Pulumi.yaml is: relative local model paths are relative to it."""


def resolve_local_models(cfg: StackConfig, root: Path = PROJECT_DIR) -> tuple[StackConfig, list[str]]:
    """Fill in sha256, size and shape of every local GGUF (plan time), checking a pinned digest."""
    from infra.serving_sizing import digest_cache_path, file_digest, gguf_shape

    if cfg.serving is None:
        return cfg, []
    problems: list[str] = []
    tiers: list[ServingTier] = []
    for i, tier in enumerate(cfg.serving.tiers):
        model = tier.model
        if model.local_path is None:
            tiers.append(tier)
            continue
        at = f"{PROJECT}:serving.tiers.{i}.model.local_path"
        path = Path(model.local_path).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            problems.append(
                f"{at}: got {model.local_path!r} ({path} does not exist); rule: a GGUF file readable when the stack "
                "is planned, so its digest can be pinned; fix: correct the path or use s3_uri with sha256"
            )
            tiers.append(tier)
            continue
        # Imported only for a local file: it loads the gguf library, which other stacks never need.
        from infra.gguf_file import GgufError

        try:
            layers, kv_heads, head_dim = gguf_shape(path)
        except (GgufError, OSError) as exc:
            problems.append(f"{at}: got {model.local_path!r}; rule: a GGUF model file ({exc}); fix: point to the .gguf")
            tiers.append(tier)
            continue
        digest, size = file_digest(path, digest_cache_path())
        if model.sha256 is not None and model.sha256 != digest:
            problems.append(
                f"{PROJECT}:serving.tiers.{i}.model.sha256: got {model.sha256}, the file has {digest}; rule: a pinned "
                "digest matches the file; fix: update the digest or restore the file you pinned"
            )
        resolved = model.model_copy(
            update={
                "local_path": str(path),
                "sha256": digest,
                "size_bytes": size,
                "shape": model.shape or ModelShape(layers=layers, kv_heads=kv_heads, head_dim=head_dim),
            }
        )
        tiers.append(tier.model_copy(update={"model": resolved}))
    serving = cfg.serving.model_copy(update={"tiers": tiers})
    return cfg.model_copy(update={"serving": serving}), problems


def gpus_for(instance_type: str) -> int:
    spec = load_catalog().get(instance_type)
    return spec.gpu.count if spec is not None and spec.gpu is not None else 0


class AnomalyConfig(_Model):
    threshold_usd: Decimal = Field(default=Decimal(100), gt=0, description="alert when an anomaly's impact exceeds")


# --- platform: what makes the cluster able to run workloads -----------------------------------
# System nodes, EKS add-ons, the controllers' tuning and spot-interruption handling. The charts and
# add-on builds themselves are pinned in infra/platform_versions.py.

SYSTEM_NODE_MIN_VCPU = 2
SYSTEM_NODE_MIN_MEMORY_MIB = 4096
SPOT_NOTICE_SECONDS = 120
_ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")


class SystemNodesConfig(_Model):
    """The untainted node group for cluster services and the gateway (an EKS managed node group)."""

    instance_types: list[str] = Field(default=["m6i.large", "m7i.large", "m5.large"], min_length=1, max_length=20)
    capacity: Literal["on-demand", "spot"] = "on-demand"
    min_size: int = Field(default=2, ge=1, le=20)
    desired_size: int = Field(default=2, ge=1, le=20)
    max_size: int = Field(default=3, ge=1, le=20)
    disk_gib: int = Field(default=30, ge=20, le=1000)

    @field_validator("instance_types")
    @classmethod
    def _general_purpose(cls, v: list[str]) -> list[str]:
        for itype, spec in _catalog_types(v, example="m6i.large"):
            if spec.gpu is not None:
                raise ValueError(
                    f"{itype!r} has a GPU; rule: system nodes are general-purpose (GPUs belong to pools[]); "
                    "fix: use e.g. m6i.large or t3.large"
                )
            if spec.arch != "amd64":
                raise ValueError(
                    f"{itype!r} is {spec.arch}; rule: x86_64, the AMI type the node group uses; fix: e.g. m6i.large"
                )
            if (spec.vcpu or 0) < SYSTEM_NODE_MIN_VCPU or (spec.memory_mib or 0) < SYSTEM_NODE_MIN_MEMORY_MIB:
                raise ValueError(
                    f"{itype!r} has {spec.vcpu} vCPU and {spec.memory_mib} MiB; rule: at least "
                    f"{SYSTEM_NODE_MIN_VCPU} vCPU and {SYSTEM_NODE_MIN_MEMORY_MIB} MiB for CoreDNS, the "
                    "controllers and the gateway; fix: use a larger type such as t3.large"
                )
        return v

    @model_validator(mode="after")
    def _sizes(self) -> SystemNodesConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"min_size={self.min_size}, desired_size={self.desired_size}, max_size={self.max_size}; "
                "rule: min_size <= desired_size <= max_size; fix: adjust the three sizes"
            )
        if self.capacity == "spot" and len(self.instance_types) < 2:
            raise ValueError(
                f"capacity='spot' with one instance type ({self.instance_types[0]}); rule: spot system nodes "
                "need at least 2 types so a reclaimed pool can be replaced from another; fix: add e.g. t3a.large"
            )
        return self


class AutoscalerConfig(_Model):
    """Cluster-autoscaler timing for GPU nodes (docs/platform.md says why these defaults)."""

    scale_down_unneeded_minutes: int = Field(default=15, ge=1, le=240)
    scale_down_delay_after_add_minutes: int = Field(default=10, ge=0, le=240)
    max_node_provision_minutes: int = Field(default=15, ge=5, le=60)


class InterruptionConfig(_Model):
    """How aws-node-termination-handler drains a node that is going away."""

    node_grace_seconds: int = Field(default=110, ge=30)
    pod_grace_seconds: int = Field(default=90, ge=5)

    @model_validator(mode="after")
    def _fits_the_notice(self) -> InterruptionConfig:
        if self.node_grace_seconds > SPOT_NOTICE_SECONDS:
            raise ValueError(
                f"node_grace_seconds={self.node_grace_seconds}; rule: a spot reclaim gives {SPOT_NOTICE_SECONDS} s "
                "notice, so the drain must finish within it; fix: at most 120 (the default 110 leaves time for "
                "the event to arrive)"
            )
        if self.pod_grace_seconds >= self.node_grace_seconds:
            raise ValueError(
                f"pod_grace_seconds={self.pod_grace_seconds} >= node_grace_seconds={self.node_grace_seconds}; "
                "rule: each pod's grace ends before the node's, or the node goes with pods still stopping; "
                "fix: e.g. pod 90, node 110"
            )
        return self


class PlatformConfig(_Model):
    system_nodes: SystemNodesConfig = SystemNodesConfig()
    addon_versions: dict[Literal["vpc-cni", "kube-proxy", "coredns"], str] = {}
    autoscaler: AutoscalerConfig = AutoscalerConfig()
    interruption: InterruptionConfig = InterruptionConfig()

    @field_validator("addon_versions")
    @classmethod
    def _builds(cls, v: dict[str, str]) -> dict[str, str]:
        for name, version in v.items():
            if not _ADDON_VERSION.match(version):
                raise ValueError(
                    f"{name}: {version!r} is not an EKS add-on build; rule: vX.Y.Z-eksbuild.N; "
                    f"fix: pick one from `aws eks describe-addon-versions --addon-name {name}`"
                )
        return v

    def addon_versions_for(self, kubernetes_version: str) -> dict[str, str]:
        """The pinned build of each add-on for a cluster version, the stack's overrides first."""
        from infra.platform_versions import ADDON_VERSIONS

        versions = dict(ADDON_VERSIONS.get(kubernetes_version, {}))
        versions.update((str(name), build) for name, build in self.addon_versions.items())
        return versions


def platform_problems(platform: PlatformConfig, environment: str, kubernetes_version: str) -> list[str]:
    """Rules across the platform and the rest of the stack (environment, cluster version)."""
    from infra.platform_versions import ADDON_VERSIONS, ADDONS

    problems: list[str] = []
    if environment == "prod" and platform.system_nodes.capacity == "spot":
        problems.append(
            "platform.system_nodes.capacity: got 'spot' in a prod stack; rule: prod system nodes are on-demand, "
            "a reclaim must not take the gateway and CoreDNS with it; fix: set capacity: on-demand"
        )
    versions = platform.addon_versions_for(kubernetes_version)
    if missing := [a for a in ADDONS if a not in versions]:
        problems.append(
            f"platform.addon_versions: no pinned build of {', '.join(missing)} for Kubernetes {kubernetes_version} "
            f"(pinned: {', '.join(sorted(ADDON_VERSIONS))}); rule: every add-on version is pinned; fix: set "
            f"platform.addon_versions.<name> from `aws eks describe-addon-versions --kubernetes-version "
            f"{kubernetes_version}`"
        )
    proxy = versions.get("kube-proxy", "")
    if proxy and not proxy.startswith(f"v{kubernetes_version}."):
        problems.append(
            f"platform.addon_versions.kube-proxy: got {proxy!r} on a {kubernetes_version} cluster; rule: kube-proxy "
            f"matches the cluster's minor version; fix: use a v{kubernetes_version}.x-eksbuild.N build"
        )
    return problems


class StackConfig(_Model):
    stack: str
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    tags: Tags
    network: NewVpc | ExistingVpc
    cluster: ClusterConfig
    pools: list[PoolConfig] = Field(min_length=1)
    schedule: ScheduleConfig | None = None
    budget: BudgetConfig
    anomaly: AnomalyConfig = AnomalyConfig()
    cache: SharedCacheConfig = SharedCacheConfig()
    platform: PlatformConfig = PlatformConfig()
    serving: ServingConfig | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError("pools: rule: pool names are unique; fix: rename the duplicate pool")
        if self.schedule is not None:
            pools = {p.name: p for p in self.pools}
            for period in self.schedule.periods:
                for pool_name, cap in period.capacity.items():
                    if pool_name not in pools:
                        raise ValueError(
                            f"schedule.periods[{period.name}].capacity: pool {pool_name!r} does not exist; "
                            f"fix: use one of {', '.join(names)}"
                        )
                    if cap.max is not None and cap.max > pools[pool_name].max_size:
                        raise ValueError(
                            f"schedule.periods[{period.name}].capacity.{pool_name}.max={cap.max} exceeds the "
                            f"pool's max_size={pools[pool_name].max_size}; rule: schedules stay within the pool's "
                            "hard cap; fix: raise pools[].max_size or lower the period's max"
                        )
        return self

    @model_validator(mode="after")
    def _guard_not_in_prod(self) -> StackConfig:
        if self.budget.guard.enabled and self.tags.environment == "prod":
            raise ValueError(
                "budget.guard.enabled: true on a prod stack; rule: the budget guard caps GPU capacity and never runs "
                "in prod (an outage costs more than the overspend); fix: remove budget.guard or set enabled: false"
            )
        return self

    def pool_actions(self, pool: PoolConfig) -> list[Action]:
        """The scheduled actions for one pool, one per period start; empty when unscheduled."""
        if self.schedule is None:
            return []
        actions: list[Action] = []
        for period in self.schedule.periods:
            cap = period.capacity.get(pool.name)
            if cap is None:
                continue
            actions.extend(Action(h, cap.min, cap.max, cap.desired) for h in period.window.start_hours_of_week())
        return actions

    def pool_capacity_by_hour(self, pool: PoolConfig) -> list[Capacity]:
        initial = Capacity(pool.min_size, pool.max_size, pool.desired_capacity)
        return capacity_by_hour(initial, self.pool_actions(pool))


def _format_error(stack: str, err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if p not in ("NewVpc", "ExistingVpc"))
    key = f"{PROJECT}:{loc}" if loc else f"{PROJECT} config"
    bad = err.get("input")
    shown = repr(bad) if not isinstance(bad, dict | list) or len(repr(bad)) < 120 else f"{type(bad).__name__}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{key}: is missing; rule: required; fix: set it in Pulumi.{stack}.yaml"
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key (value {shown}); rule: only documented keys; fix: check the spelling (README)"
    if err["type"] == "value_error":
        return f"{key}: got {shown}; {msg}"  # our validators already say rule and fix
    return f"{key}: got {shown}; rule: {msg}; fix: change it in Pulumi.{stack}.yaml (README: Config reference)"


def parse(stack: str, values: dict[str, Any]) -> StackConfig:
    """Validate raw config values (already JSON-decoded) into a StackConfig, or raise ConfigError."""
    problems: list[str] = []
    unknown = sorted(set(values) - set(TOP_LEVEL_KEYS))
    problems += [
        f"{PROJECT}:{k}: unknown key; rule: one of {', '.join(TOP_LEVEL_KEYS)}; fix: check the spelling"
        for k in unknown
    ]
    known = {k: v for k, v in values.items() if k in TOP_LEVEL_KEYS}
    network = known.get("network")
    if isinstance(network, dict):
        # Decide the variant from the keys the user wrote, so errors speak of one variant, not both.
        model = ExistingVpc if "vpc_id" in network else NewVpc
        try:
            known["network"] = model.model_validate(network)
        except ValidationError as exc:
            problems += [_format_error(stack, {**e, "loc": ("network", *e["loc"])}) for e in exc.errors()]
            known.pop("network")
    try:
        cfg = StackConfig.model_validate({"stack": stack, **known})
    except ValidationError as exc:
        problems += [_format_error(stack, e) for e in exc.errors() if not (e["loc"][:1] == ("network",) and problems)]
        raise ConfigError(stack, problems) from None
    # Rules across sections, each reported under its own key.
    problems += [
        f"{PROJECT}:{p}" for p in platform_problems(cfg.platform, cfg.tags.environment, cfg.cluster.kubernetes_version)
    ]
    cfg, resolved = resolve_local_models(cfg)
    problems += resolved or serving_problems(cfg)
    if problems:
        raise ConfigError(stack, problems)
    return cfg


def decode_value(raw: str) -> Any:
    """A config value as the engine hands it to a program: JSON for objects and lists, else a plain string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # plain strings such as region


def load() -> StackConfig:
    """Read and validate the current stack's config through Pulumi (real engine or mocks)."""
    import pulumi

    project_config = pulumi.Config(PROJECT)
    values: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        raw = project_config.get(key)
        if raw is not None:
            values[key] = decode_value(raw)
    if "region" not in values and (aws_region := pulumi.Config("aws").get("region")):
        values["region"] = aws_region
    # Typos under our namespace would otherwise be silently ignored.
    from pulumi.runtime.config import CONFIG

    for full_key in CONFIG.get():
        if full_key.startswith(f"{PROJECT}:") and full_key.split(":", 1)[1] not in (*TOP_LEVEL_KEYS, *SECRET_KEYS):
            values[full_key.split(":", 1)[1]] = None
    return parse(pulumi.get_stack(), values)


def load_serving_api_keys() -> Any:
    """The tenants' API keys (`pulumi config set --secret serving_api_keys '{"tenant": "key"}'`), as a
    secret Output of that JSON object, validated, for the gateway's Secret; None when not set.

    Kept out of StackConfig on purpose: the plain model is logged, planned and priced; the keys only
    ever travel as a secret into the Kubernetes Secret. A key given without --secret is refused.
    """
    import pulumi
    from pulumi.runtime.config import is_config_secret

    key = "serving_api_keys"
    config = pulumi.Config(PROJECT)
    if config.get(key) is None:
        return None
    if not is_config_secret(f"{PROJECT}:{key}"):
        raise ConfigError(
            pulumi.get_stack(),
            [
                f"{PROJECT}:{key}: is stored in clear text; rule: API keys are Pulumi secrets; fix: "
                f'`pulumi config rm {key}` then `pulumi config set --secret {key} \'{{"tenant": "key"}}\'`'
            ],
        )
    if config.get(key) == "[secret]":
        # The offline plan cannot decrypt the stack's secrets; the Secret shows the marker.
        return pulumi.Output.secret("[secret]")
    return config.require_secret(key).apply(api_keys_json)


def api_keys_json(raw: str) -> str:
    """'{"tenant": "key", ...}' checked and normalised (sorted keys) for FRUGAL_TENANT_KEYS."""
    try:
        keys = json.loads(raw)
    except json.JSONDecodeError:
        keys = None
    if not isinstance(keys, dict) or not keys:
        raise ValueError(
            f"{PROJECT}:serving_api_keys: rule: a JSON object of tenant name to API key; "
            'fix: pulumi config set --secret serving_api_keys \'{"acme": "sk-..."}\''
        )
    for tenant, api_key in keys.items():
        if not isinstance(api_key, str) or len(api_key) < 16:
            raise ValueError(
                f"{PROJECT}:serving_api_keys[{tenant}]: rule: a key of at least 16 characters; "
                "fix: generate one with `openssl rand -hex 24`"
            )
    return json.dumps(keys, sort_keys=True)
