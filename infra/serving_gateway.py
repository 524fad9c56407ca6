"""The gateway's router config, rendered from the stack: tiers as remote tiers behind their headless
Services, prices per token from the same pool pricing the cost preview uses, tenants, budgets.

Pure (no Pulumi import). The price of one model-server replica is the pool's expected cost per
instance-hour from `infra.cost.pools.price_pool` (the preview's own pool pricer: the schedule's
hours, AWS's on-demand/spot split, spot prices over the overrides) divided by the fewest GPUs an
instance of the pool has; a tier that requires on-demand nodes pays the pool's expected on-demand
price instead. With the tier's measured throughput the router turns that into USD per 1k tokens
(runtime/settings.py `DerivedPrice`), so `frugal preview` and the running gateway agree on what a
token costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from infra.catalog import Catalog, load_catalog
from infra.config import PoolConfig, ServingConfig, ServingTier, StackConfig, gpus_for
from infra.cost.pools import PoolSpec, on_demand_range, price_pool
from infra.schedule import Capacity
from infra.tokens import AUTOSCALING_GROUP

MODEL_PORT = 8080
GATEWAY_PORT = 8000
GATEWAY_INTERNAL_PORT = 9464
BUDGET_SQLITE = "/var/lib/frugal/spend.sqlite3"
SCALING_PATH = "/internal/scaling/{tier}"
"""The per-tier queue figure KEDA reads from the gateway (docs/serving.md, "Scaling")."""


def models_namespace(serving: ServingConfig) -> str:
    return f"{serving.namespace}-models"


def tier_service(tier: ServingTier) -> str:
    return f"{tier.name}-model"


def tier_url(serving: ServingConfig, tier: ServingTier) -> str:
    return f"http://{tier_service(tier)}.{models_namespace(serving)}.svc.cluster.local:{MODEL_PORT}"


def scaling_url(serving: ServingConfig, tier: ServingTier) -> str:
    host = f"gateway-internal.{serving.namespace}.svc.cluster.local"
    return f"http://{host}:{GATEWAY_INTERNAL_PORT}{SCALING_PATH.format(tier=tier.name)}"


@dataclass(frozen=True)
class ReplicaPrice:
    hourly_usd: Decimal
    """Expected USD per replica-hour (one GPU)."""
    source: str


def pool_spec(cfg: StackConfig, pool: PoolConfig) -> PoolSpec:
    """The pool as the cost model reads a group: overrides, distribution, sizes and scheduled actions."""
    return PoolSpec(
        urn=f"pool:{pool.name}",
        name=pool.name,
        overrides=list(pool.instance_types),
        on_demand_base=pool.on_demand_base_capacity,
        on_demand_pct=pool.on_demand_percentage_above_base,
        spot_strategy=pool.spot_allocation_strategy,
        # The GPU pools' launch config (infra/components/gpu_node_pool.py) sets lowest-price on-demand.
        on_demand_strategy="lowest-price",
        initial=Capacity(pool.min_size, pool.max_size, pool.desired_capacity),
        actions=cfg.pool_actions(pool),
        root_volume=None,
    )


def replica_price(cfg: StackConfig, tier: ServingTier, catalog: Catalog | None = None) -> ReplicaPrice:
    catalog = catalog or load_catalog()
    pool = next(p for p in cfg.pools if p.name == tier.pool)
    gpus = min(gpus_for(t) for t in pool.instance_types)
    spec = pool_spec(cfg, pool)
    warnings: list[str] = []
    if tier.capacity == "on-demand":
        hourly = on_demand_range(spec.overrides, spec.on_demand_strategy, catalog, warnings).expected
        how = "expected on-demand price (the tier requires on-demand nodes)"
    else:
        cost, summary, _ = price_pool(spec, catalog, AUTOSCALING_GROUP)
        hours = summary.on_demand_hours_per_month + summary.spot_hours_per_month
        monthly = cost.monthly.expected
        if hours and monthly is not None:
            hourly = monthly / hours
            how = "expected cost per instance-hour over the schedule, on-demand and spot as the pool mixes them"
        else:  # a pool scheduled at zero all week: price what one spot-preferring node would cost
            hourly = on_demand_range(spec.overrides, spec.on_demand_strategy, catalog, warnings).expected
            how = "expected on-demand price (the pool has no scheduled hours)"
    if hourly is None:
        raise ValueError(f"pool {pool.name}: no price in the catalog for any of {pool.instance_types}")
    per_replica = (hourly / gpus).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    od_src = catalog.sources.get("on_demand", {})
    sp_src = catalog.sources.get("spot_advisor", {})
    source = (
        f"pool {pool.name}: {how} ${hourly.quantize(Decimal('0.0001'))}/h / {gpus} GPU(s) per instance "
        f"(infra.cost.pools; on-demand {od_src.get('as_of', '-')}, spot advisor {sp_src.get('as_of', '-')}); "
        f"throughput: {tier.throughput.source}"
    )
    return ReplicaPrice(per_replica, source)


def per_1k(price: ReplicaPrice, tier: ServingTier) -> tuple[Decimal, Decimal]:
    """(prompt, completion) USD per 1k tokens, the router's DerivedPrice formula."""
    t = tier.throughput
    per_second = price.hourly_usd / 3600
    return (
        per_second / (t.prompt_tokens_per_second * t.utilization) * 1000,
        per_second / (t.completion_tokens_per_second * t.utilization) * 1000,
    )


def router_config(
    cfg: StackConfig, redis_url: str | None = None, catalog: Catalog | None = None, embeddings: bool = False
) -> dict[str, Any]:
    """The gateway's router.yaml (runtime/settings.py); tenants' keys are added from the Secret at start."""
    serving = cfg.serving
    if serving is None:
        raise ValueError("the stack has no serving section")
    tiers: list[dict[str, Any]] = []
    for tier in serving.tiers:
        price = replica_price(cfg, tier, catalog)
        t = tier.throughput
        tiers.append(
            {
                "name": tier.name,
                "url": tier_url(serving, tier),
                "upstream_model": tier.model.name,
                # One replica's slots: the gateway balances over replicas once it discovers them.
                "slots": tier.parallel,
                "price": {
                    "derived": {
                        "instance_hourly_usd": str(price.hourly_usd),
                        "prompt_tokens_per_second": str(t.prompt_tokens_per_second),
                        "completion_tokens_per_second": str(t.completion_tokens_per_second),
                        "utilization": str(t.utilization),
                        "source": price.source,
                    }
                },
                "max_complexity": tier.max_complexity,
                "fallbacks": list(tier.fallbacks),
                "max_tokens_limit": max(256, tier.ctx_size // tier.parallel // 2),
                "default_max_tokens": min(512, max(256, tier.ctx_size // tier.parallel // 2)),
                "timeout_s": 300,
                "connect_timeout_s": 2,
                "stream_idle_timeout_s": 60,
            }
        )
    budget: dict[str, Any] = {"backend": "sqlite", "sqlite_path": BUDGET_SQLITE}
    if redis_url:
        budget = {"backend": "redis", "redis_url": redis_url}
    config: dict[str, Any] = {
        "server": {"host": "0.0.0.0", "port": GATEWAY_PORT},
        "tiers": tiers,
        "tenants": [
            {
                "name": tenant.name,
                **({"daily_budget_usd": str(tenant.daily_budget_usd)} if tenant.daily_budget_usd is not None else {}),
                **(
                    {"monthly_budget_usd": str(tenant.monthly_budget_usd)}
                    if tenant.monthly_budget_usd is not None
                    else {}
                ),
                **({"allowed_tiers": list(tenant.allowed_tiers)} if tenant.allowed_tiers is not None else {}),
                "semantic_cache": tenant.semantic_cache,
                "priority": tenant.priority,
            }
            for tenant in serving.gateway.tenants
        ],
        "budget": budget,
    }
    if redis_url:
        config["cache"] = {"redis_url": redis_url}
    return config
