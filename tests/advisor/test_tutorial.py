"""The tutorial's Part 2, recomputed: what fits each quantization and what the month costs."""

from __future__ import annotations

from decimal import Decimal

from infra.advisor.tutorial import part2
from infra.catalog import load_catalog


def test_13b_f16_needs_a_48_gb_gpu_while_q4_k_m_fits_a_16_gb_one() -> None:
    p = part2()
    f16, q4 = p.f16.cheapest_any, p.q4.cheapest_any
    assert f16 is not None and q4 is not None, "both fit somewhere"
    assert f16.instance.memory_bytes_per_gpu > 24 * 1024**3 or f16.verdict.gpus_per_server > 1, (
        f"F16 13B needs more than a 24 GB GPU ({f16.instance.name})"
    )
    assert q4.instance.memory_bytes_per_gpu <= 16 * 1024**3, f"Q4_K_M fits a 16 GB T4 ({q4.instance.name})"
    assert "g5.xlarge" in p.q4.fitting_types and "g5.xlarge" not in p.f16.fitting_types, "24 GB A10G: Q4 only"


def test_the_monthly_difference_is_the_catalog_price_difference_over_730_hours() -> None:
    p = part2()
    assert p.f16.cheapest_any is not None and p.q4.cheapest_any is not None, "both priced"
    catalog = load_catalog()
    f16_price = catalog.instances[p.f16.cheapest_any.instance.name].on_demand_hourly
    q4_price = catalog.instances[p.q4.cheapest_any.instance.name].on_demand_hourly
    assert f16_price is not None and q4_price is not None, "catalog prices"
    assert p.monthly_difference == ((f16_price - q4_price) * 730).quantize(Decimal("0.01")), "730 h x hourly gap"
    assert all(
        catalog.instances[t].on_demand_hourly is None or catalog.instances[t].on_demand_hourly >= f16_price  # type: ignore[operator]
        for t in p.f16.fitting_types
    ), "no fitting type is cheaper than the one chosen"


def test_the_tutorial_formula_gives_1366_56_not_the_printed_1314() -> None:
    p = part2()
    assert p.tutorial_formula == Decimal("1366.56"), "26 GB x 0.72 x $0.10 x 730"
    assert p.tutorial_printed == Decimal("1314.00") != p.tutorial_formula, "the printed figure does not follow"
    assert any("18 GB saved" in line for line in p.lines), "what the printed figure implies"
