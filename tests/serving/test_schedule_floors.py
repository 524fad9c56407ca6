"""The KEDA floors' end crons: every run of a period ends exactly where its hours end."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from infra.schedule import HOURS_PER_WEEK, WEEKDAYS, Window, cron_recurrence, end_cron_recurrence

_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _fire_hours(cron: str) -> set[int]:
    """Hours of the week (Mon 00:00 = 0) at which '0 H * * DAYS' fires."""
    _, hour, _, _, days = cron.split()
    if days == "*":
        numbers = list(range(7))
    else:
        numbers = []
        for part in days.split(","):
            if "-" in part:
                a, b = (_NAMES.index(x) for x in part.split("-"))
                numbers.extend(range(a, b + 1))
            else:
                numbers.append(_NAMES.index(part))
    return {((n - 1) % 7) * 24 + int(hour) for n in numbers}


@given(
    days=st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
def test_each_run_ends_where_the_window_ends(days: list[str], start: int, end: int):
    window = Window("p", tuple(days), start, end)
    starts = _fire_hours(cron_recurrence(window))
    ends = _fire_hours(end_cron_recurrence(window))
    assert starts == set(window.start_hours_of_week()), "the start cron is the ASG action's"
    assert ends == {(h + window.hours_per_day) % HOURS_PER_WEEK for h in starts}, (
        f"{window}: ends {sorted(ends)} are each start + {window.hours_per_day} h"
    )


def test_a_night_period_ends_the_next_morning_and_a_24_hour_period_the_next_day():
    assert end_cron_recurrence(Window("night", ("mon", "tue", "wed", "thu", "fri"), 23, 8)) == "0 8 * * TUE-SAT"
    assert end_cron_recurrence(Window("weekend", ("sat", "sun"), 8, 8)) == "0 8 * * SUN,MON"
