"""The seed tutorial's examples recomputed by the cost model."""

from __future__ import annotations

from decimal import Decimal

from infra.cost.model import cents
from infra.cost.tutorial import part4, part5, real_world


def test_part4_reproduces_3577_a_month_and_49_percent():
    ex = part4()
    assert ex.saving == Decimal("3577.00"), "10 x $1 vs 3 x $1 + 7 x $0.30, x 730 h"
    assert ex.saving_pct == Decimal("49.0"), "the tutorial's 49.0% is right"


def test_part5_saves_37_9_percent_not_the_printed_30_4():
    ex = part5()
    assert ex.actual == cents(Decimal(149) * 730 / 24), "149 instance-hours a day at $1, over a 730-hour month"
    assert ex.saving_pct == Decimal("37.9"), "91/240"
    assert any("30.4%" in line and "wrong" in line for line in ex.lines), "the wrong figure is called out"


def test_the_real_world_example_with_g5_xlarge_does_not_reach_1800():
    ex = real_world("g5.xlarge")
    assert ex.baseline == Decimal("7343.80"), "10 x $1.006 x 730"
    assert ex.actual > Decimal(1800), "spot + scheduling alone cost more than the tutorial's $1,800"
