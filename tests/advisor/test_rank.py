"""Fit, ranking and pool warnings for known cases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infra.advisor import memory
from infra.advisor.advice import advise
from infra.advisor.families import family
from infra.advisor.gpus import lookup
from infra.advisor.rank import fits, option, pool_warnings

GB = 10**9


def _13b(quant: str, parallel: int = 1) -> memory.MemoryPlan:
    return memory.plan(family("llama-2-13b"), quant, ctx_per_slot=4096, parallel=parallel)


@pytest.mark.parametrize("instance_type", ["g5.xlarge", "g6.xlarge"])
def test_13b_f16_does_not_fit_one_24_gb_gpu_and_q4_k_m_does(instance_type: str) -> None:
    f16 = fits(_13b("F16"), instance_type)
    q4 = fits(_13b("Q4_K_M"), instance_type)
    assert not f16.fits and f16.need_bytes_per_gpu > f16.have_bytes_per_gpu, f"F16 13B: {f16.reason}"
    assert q4.fits and q4.gpus_per_server == 1 and q4.layout == "1 GPU", f"Q4_K_M 13B: {q4.reason}"


def test_70b_q4_k_m_needs_more_than_one_24_gb_gpu() -> None:
    plan = memory.plan(family("llama-2-70b"), "Q4_K_M", ctx_per_slot=4096, parallel=1)
    assert not fits(plan, "g5.xlarge").fits, "one A10G (24 GB) cannot hold 70B at Q4_K_M"
    split = fits(plan, "g5.12xlarge")
    assert split.fits and split.gpus_per_server > 1, f"four A10Gs hold it split by layers: {split.reason}"
    assert split.layout.endswith("layer split"), f"marked as a split: {split.layout}"
    assert plan.weights_bytes > 24 * GB, "the weights alone exceed one GPU"


def test_a_multi_gpu_instance_runs_as_many_servers_as_its_gpus_allow() -> None:
    v = fits(_13b("Q4_K_M"), "g5.48xlarge")
    assert (v.gpus_per_server, v.servers) == (1, 8), "eight A10Gs run eight single-GPU servers"


def test_non_gpu_and_unusable_types_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="no GPU"):
        fits(_13b("Q4_K_M"), "m5.large")
    with pytest.raises(ValueError, match="not NVIDIA"):
        fits(_13b("Q4_K_M"), "g4ad.xlarge")
    with pytest.raises(ValueError, match="not in the price catalog"):
        fits(_13b("Q4_K_M"), "g9.huge")


def test_spot_and_per_million_prices_follow_from_the_catalog_and_the_speed() -> None:
    o = option(_13b("Q4_K_M", parallel=4), lookup("g5.xlarge"))
    i = o.instance
    assert i.on_demand_hourly == Decimal("1.006") and i.spot_saving_pct == 59, "catalog figures for g5.xlarge"
    assert i.spot_hourly == Decimal("1.006") * 41 / 100, "spot = on-demand x (1 - 59%)"
    assert o.speed is not None and o.instance_tps is not None, "A10G bandwidth is recorded"
    expected = Decimal("1.006") * 10**6 / (Decimal(repr(o.instance_tps)) * 3600)
    assert o.on_demand_per_million == expected.quantize(Decimal("0.0001")), "hourly / (tokens/s x 3600) x 10^6"
    lo, hi = o.range_per_million(i.on_demand_hourly)
    assert lo is not None and hi is not None and lo < o.on_demand_per_million < hi, "central price inside its range"


def test_the_ranking_puts_single_gpu_servers_first_then_cheapest_per_token() -> None:
    a = advise(family("llama-2-70b"), ctx_per_slot=4096, parallel=4, quants=["Q4_K_M"])
    groups = [o.verdict.gpus_per_server == 1 for o in a.options]
    assert groups == sorted(groups, reverse=True), "every single-GPU option precedes every split option"
    singles = [o.on_demand_per_million for o in a.options if o.verdict.gpus_per_server == 1 and o.speed]
    assert singles == sorted(singles), "single-GPU options priced by token are cheapest first"
    assert any(o.verdict.gpus_per_server > 1 for o in a.options), "split layouts are listed too"
    assert all(not o.verdict.fits for o in a.too_small), "the rest is listed as too small"
    assert {"g5.xlarge", "g6.xlarge"} <= {o.instance.name for o in a.too_small}, "24 GB GPUs are too small"


def test_a_gpu_without_a_recorded_bandwidth_still_fits_but_has_no_speed() -> None:
    o = option(_13b("Q4_K_M"), lookup("g7e.2xlarge"))
    assert o.verdict.fits and o.speed is None, "RTX PRO 6000 fits 13B but has no sourced bandwidth"
    assert o.on_demand_per_million is None, "no speed, no price per token (unknown, never 0)"


def test_pool_warnings_name_each_pool_type_that_cannot_hold_the_model() -> None:
    pools = {"gpu-main": ["g5.xlarge", "g6e.xlarge"], "gpu-cheap": ["g4dn.xlarge", "nope.large"]}
    warnings = pool_warnings(pools, _13b("F16"))
    assert len(warnings) == 3, f"g5.xlarge, g4dn.xlarge and the unknown type: {warnings}"
    assert any(w.startswith("pool gpu-main: g5.xlarge cannot hold the F16 model") for w in warnings), warnings
    assert not any("g6e.xlarge" in w for w in warnings), "48 GB L40S holds 13B F16: no warning"
    assert any("nope.large" in w and "not in the price catalog" in w for w in warnings), warnings
    assert all("fix:" in w for w in warnings if "cannot hold" in w), "each warning says how to fix it"
    only_unknown = ["pool gpu-cheap: 'nope.large' is not in the price catalog (us-east-1); check the name"]
    assert pool_warnings(pools, _13b("Q4_K_M")) == only_unknown, "Q4_K_M fits every real type"


def test_a_tier_price_per_1k_output_tokens_is_the_per_million_price_over_1000() -> None:
    from infra.advisor.rank import usd_per_1k_output_tokens

    plan = _13b("Q4_K_M", parallel=8)
    o = option(plan, lookup("g6e.xlarge"))
    assert o.on_demand_per_million is not None and o.spot_per_million is not None, "L40S priced by token"
    assert usd_per_1k_output_tokens(plan, "g6e.xlarge") == o.on_demand_per_million / 1000, "on-demand"
    assert usd_per_1k_output_tokens(plan, "g6e.xlarge", spot=True) == o.spot_per_million / 1000, "spot"
    assert usd_per_1k_output_tokens(_13b("F16"), "g5.xlarge") is None, "no price where the model does not fit"
