"""Properties of the pool cost model over generated pools and schedules (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog import load_catalog
from infra.cost.pools import PoolSpec, RootVolume, price_pool
from infra.schedule import HOURS_PER_WEEK, Action, Capacity

CATALOG = load_catalog()
GPU_TYPES = sorted(
    n for n, s in CATALOG.instances.items() if s.usable_gpu_reason is None and s.on_demand_hourly and s.spot_saving_pct
)
STRATEGIES = ["price-capacity-optimized", "lowest-price", "capacity-optimized"]
FAST = settings(max_examples=60, deadline=None)


@st.composite
def pools(draw: st.DrawFn) -> PoolSpec:
    max_size = draw(st.integers(1, 12))
    desired = draw(st.integers(0, max_size))
    actions = [
        Action(draw(st.integers(0, HOURS_PER_WEEK - 1)), None, None, draw(st.integers(0, max_size)))
        for _ in range(draw(st.integers(0, 6)))
    ]
    return PoolSpec(
        urn="urn:test",
        name="pool",
        overrides=draw(st.lists(st.sampled_from(GPU_TYPES), min_size=1, max_size=10, unique=True)),
        on_demand_base=draw(st.integers(0, max_size)),
        on_demand_pct=draw(st.integers(0, 100)),
        spot_strategy=draw(st.sampled_from(STRATEGIES)),
        on_demand_strategy=draw(st.sampled_from(["lowest-price", "prioritized"])),
        initial=Capacity(0, max_size, desired),
        actions=actions,
        root_volume=RootVolume(draw(st.integers(30, 500)), "gp3"),
    )


# Hours a month are hours a week x 730/168, which Decimal carries to 28 digits; two splits of the same
# hours at the same price can then differ in the 25th decimal, and rounding such a total to the cent
# flips a cent when it sits on a half-cent. The properties hold exactly in real numbers, so they are
# checked on unrounded amounts with a tolerance far below a cent.
NOISE = Decimal("1e-12")


def monthly(spec: PoolSpec):  # noqa: ANN201
    """Monthly cost, unrounded, plus the noise tolerance (see NOISE)."""
    total = price_pool(spec, CATALOG, "aws:autoscaling/group:Group")[0].monthly
    return type(total)(low=total.low + NOISE, expected=total.expected + NOISE, high=total.high + NOISE)


@FAST
@given(pools())
def test_every_amount_is_ordered_low_expected_high(spec: PoolSpec):
    cost, _, _ = price_pool(spec, CATALOG, "aws:autoscaling/group:Group")
    for c in [*cost.components]:
        assert c.monthly.low <= c.monthly.expected <= c.monthly.high, f"{c.name}: {c.monthly} must be ordered"
        assert c.unit_price.low <= c.unit_price.expected <= c.unit_price.high, f"{c.name}: unit price ordered"
    total = cost.monthly
    assert total.low <= total.expected <= total.high, f"total {total} must be ordered"


@FAST
@given(pools(), st.integers(1, 4))
def test_cost_never_decreases_when_capacity_grows(spec: PoolSpec, extra: int):
    bigger = replace(
        spec,
        initial=Capacity(0, spec.initial.max_size + extra, spec.initial.desired + extra),
        actions=[replace(a, desired=a.desired + extra) for a in spec.actions],
    )
    small, big = monthly(spec), monthly(bigger)
    for end in ("low", "expected", "high"):
        assert getattr(big, end) >= getattr(small, end), f"{end}: more capacity every hour cannot cost less"


@FAST
@given(pools(), st.integers(1, 100))
def test_cost_never_decreases_when_the_on_demand_share_grows(spec: PoolSpec, more: int):
    shifted = replace(spec, on_demand_pct=min(100, spec.on_demand_pct + more))
    before = price_pool(spec, CATALOG, "aws:autoscaling/group:Group")[0].monthly
    after = monthly(shifted)  # + NOISE: equal within Decimal's 28 digits counts as not less
    for end in ("low", "expected", "high"):
        assert getattr(after, end) >= getattr(before, end), f"{end}: a larger on-demand share cannot cost less"


@FAST
@given(pools(), st.integers(1, 12), st.integers(0, HOURS_PER_WEEK - 1), st.integers(1, HOURS_PER_WEEK - 1))
def test_a_schedule_that_scales_to_zero_costs_less_than_one_that_does_not(spec, size, start, length):  # noqa: ANN001
    always = replace(spec, initial=Capacity(0, size, size), actions=[])
    nightly = replace(
        always, actions=[Action(start, 0, None, 0), Action((start + length) % HOURS_PER_WEEK, None, None, size)]
    )
    on, off = monthly(always), monthly(nightly)
    for end in ("low", "expected", "high"):
        assert getattr(off, end) < getattr(on, end), (
            f"{end}: hours at zero capacity must cost less than hours at {size}"
        )
    assert off.expected > Decimal(0), "the hours at full size still cost something"
