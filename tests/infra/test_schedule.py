"""Schedule arithmetic: hour-of-week ownership, gaps and overlaps, cron compilation, the capacity a
pool really has at each hour (AWS's -1 = unchanged semantics), and monthly hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from infra.schedule import (
    HOURS_PER_WEEK,
    WEEKDAYS,
    Action,
    Capacity,
    Window,
    capacity_by_hour,
    coverage_problems,
    cron_recurrence,
    hours_per_month,
    instance_hours_per_month,
)
from infra.sizing import lifecycle_split

ALL_DAYS = WEEKDAYS


def tutorial_part5_windows() -> list[Window]:
    """The tutorial's peak/medium/low idea with non-overlapping 8/7/9-hour windows every day."""
    return [
        Window("peak", ALL_DAYS, 9, 17),  # 8 h
        Window("morning", ALL_DAYS, 6, 9),  # 3 h  } medium: 7 h
        Window("evening", ALL_DAYS, 17, 21),  # 4 h  }
        Window("low", ALL_DAYS, 21, 6),  # 9 h, past midnight
    ]


def test_non_overlapping_windows_cover_the_week_exactly_once():
    assert coverage_problems(tutorial_part5_windows()) == [], "8+3+4+9 hours a day, every day, is the whole week"


def test_the_tutorials_own_schedule_overlaps_and_is_reported_by_hour():
    # The tutorial checks 9 <= hour <= 17 (9 hours) for peak and 6 <= hour <= 21 for medium, then low.
    windows = [Window("peak", ALL_DAYS, 9, 18), Window("medium", ALL_DAYS, 6, 22), Window("low", ALL_DAYS, 0, 24)]
    problems = coverage_problems(windows)
    assert problems, "overlapping periods must be rejected"
    assert any("peak" in p and "medium" in p for p in problems), f"the peak/medium overlap is named: {problems}"
    assert any("Mon 09:00-Mon 18:00" in p for p in problems), f"the overlap says which hours: {problems}"


def test_a_gap_is_reported_with_its_hours():
    problems = coverage_problems([Window("work", ("mon", "tue", "wed", "thu", "fri"), 8, 20)])
    assert any(p.startswith("no period covers") for p in problems), f"uncovered hours are a gap: {problems}"
    assert any("Fri 20:00-Mon 08:00 (60 h)" in p for p in problems), f"the weekend gap is one run: {problems}"


def test_a_window_past_midnight_spills_into_the_next_day_and_wraps_the_week():
    hours = Window("night", ("sun",), 22, 6).hours_of_week()
    assert len(hours) == 8, "22:00 to 06:00 is eight hours"
    assert 6 * 24 + 22 in hours and 0 in hours and 5 in hours, "Sunday night runs into Monday morning"
    assert 6 not in hours, "the end hour is exclusive"


def test_equal_start_and_end_means_a_whole_day():
    assert Window("weekend", ("sat", "sun"), 8, 8).hours_per_day == 24, "start == end spans 24 hours"


@pytest.mark.parametrize(
    "window, expected",
    [
        (Window("w", ("mon", "tue", "wed", "thu", "fri"), 8, 20), "0 8 * * MON-FRI"),
        (Window("w", ALL_DAYS, 20, 8), "0 20 * * *"),
        (Window("w", ("sat", "sun"), 8, 8), "0 8 * * SUN,SAT"),
        (Window("w", ("mon", "wed"), 23, 8), "0 23 * * MON,WED"),
    ],
)
def test_cron_recurrence_is_a_five_field_unix_expression(window: Window, expected: str):
    assert cron_recurrence(window) == expected, "AWS scheduled actions take 5-field Unix cron"


@given(
    days=st.lists(st.sampled_from(ALL_DAYS), min_size=1, max_size=7, unique=True),
    start=st.integers(min_value=0, max_value=23),
)
def test_cron_fires_exactly_at_the_windows_starts(days: list[str], start: int):
    window = Window("w", tuple(sorted(days, key=ALL_DAYS.index)), start, (start + 1) % 24)
    monday = datetime(2026, 11, 23)  # a Monday, so hour-of-week maps to this week's dates
    fired = []
    it = croniter(cron_recurrence(window), monday - timedelta(seconds=1))
    while (t := it.get_next(datetime)) < monday + timedelta(days=7):
        fired.append(int((t - monday).total_seconds() // 3600))
    assert fired == window.start_hours_of_week(), "croniter, an independent parser, agrees on every firing"


def test_omitted_sizes_stay_as_the_previous_action_left_them():
    initial = Capacity(min_size=2, max_size=8, desired=4)
    actions = [
        Action(hour_of_week=8, min_size=2, max_size=None, desired=4),
        Action(hour_of_week=18, min_size=1, max_size=None, desired=1),
    ]
    week = capacity_by_hour(initial, actions)
    assert week[8] == Capacity(2, 8, 4), "the 08:00 action sets min and desired; max keeps the pool's 8"
    assert week[18] == Capacity(1, 8, 1), "the 18:00 action lowers min and desired"
    assert week[0] == Capacity(1, 8, 1), "Monday 00:00 carries Sunday's last state, not the initial one"
    assert week[24 + 7] == Capacity(1, 8, 1), "Tuesday 07:00 is still the evening state"


def test_desired_is_clamped_into_new_bounds_as_aws_does():
    week = capacity_by_hour(Capacity(0, 4, 3), [Action(0, None, 2, None)])
    assert all(c.desired == 2 for c in week), "lowering max below desired pulls desired down to max"
    week = capacity_by_hour(Capacity(0, 4, 0), [Action(0, 3, None, None)])
    assert all(c.desired == 3 for c in week), "raising min above desired pushes desired up to min"


def test_an_unscheduled_pool_keeps_its_configured_size_all_week():
    week = capacity_by_hour(Capacity(1, 3, 2), [])
    assert len(week) == HOURS_PER_WEEK and set(week) == {Capacity(1, 3, 2)}, "no actions, no change"


def test_monthly_hours_use_730_hours_a_month():
    assert hours_per_month(168) == Decimal(730), "a full week every week is 730 h a month"
    assert instance_hours_per_month([Capacity(0, 1, 1)] * 168) == Decimal(730), "one instance all month"


def test_tutorial_part5_with_non_overlapping_windows_saves_37_9_percent_not_30_4():
    replicas = {"peak": 10, "morning": 6, "evening": 6, "low": 3}
    per_day = sum(w.hours_per_day * replicas[w.name] for w in tutorial_part5_windows())
    assert per_day == 149, "8 x 10 + 7 x 6 + 9 x 3 instance-hours a day"
    baseline = 24 * 10
    saving = Decimal(baseline - per_day) / baseline * 100
    assert saving.quantize(Decimal("0.1")) == Decimal("37.9"), "the tutorial prints 30.4%, which is wrong"

    # The same through the pool simulation the cost model uses.
    actions = [
        Action(h, None, None, replicas[w.name]) for w in tutorial_part5_windows() for h in w.start_hours_of_week()
    ]
    week = capacity_by_hour(Capacity(0, 10, 10), actions)
    assert sum(c.desired for c in week) == 7 * 149, "the simulated week holds 149 instance-hours a day"


@pytest.mark.parametrize(
    "capacity, base, pct, on_demand, spot",
    [
        (10, 0, 30, 3, 7),  # the tutorial's 70% spot
        (10, 1, 25, 4, 6),  # 1 + ceil(9 x 0.25 = 2.25) = 4
        (4, 1, 25, 2, 2),  # 1 + ceil(0.75) = 2
        (1, 2, 50, 1, 0),  # below the base everything is on-demand
        (5, 0, 0, 0, 5),  # spot only
        (0, 1, 50, 0, 0),  # scaled to zero
    ],
)
def test_on_demand_is_base_plus_rounded_up_share_of_the_rest(capacity, base, pct, on_demand, spot):
    split = lifecycle_split(capacity, base, pct)
    assert (split.on_demand, split.spot) == (on_demand, spot), "AWS rounds the on-demand share up"


@given(capacity=st.integers(0, 200), base=st.integers(0, 50), pct=st.integers(0, 100))
def test_the_split_always_adds_up_and_respects_the_base(capacity: int, base: int, pct: int):
    split = lifecycle_split(capacity, base, pct)
    assert split.on_demand + split.spot == capacity, "every instance is either on-demand or spot"
    assert split.on_demand >= min(base, capacity), "the on-demand base is filled first"
