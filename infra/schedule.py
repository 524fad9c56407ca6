"""Schedule arithmetic: which period owns each hour of the week, and what capacity a pool has then.

Pure (no Pulumi import), shared by the ScalingSchedule component (which compiles periods into
`aws.autoscaling.Schedule` actions), by config validation and by the cost model, so that the cost
preview prices exactly what the scheduled actions do.

Conventions
- An hour of the week is `day * 24 + hour`, Monday 00:00 = 0 ... Sunday 23:00 = 167, in the
  schedule's own time zone.
- A period starts on each of its days at `start_hour` and runs to `end_hour` (exclusive). When
  `end_hour <= start_hour` it runs past midnight into the next day (Friday 21 -> 6 ends Saturday 06:00).
- A month is 730 hours (8,760 / 12), the convention AWS and Infracost price by, i.e. 730/168 weeks.
  Daylight-saving changes move a local schedule by an hour against UTC twice a year; they do not
  change the number of hours each period owns, so they are ignored here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_PER_WEEK = 168
HOURS_PER_MONTH = Decimal(730)
WEEKS_PER_MONTH = HOURS_PER_MONTH / HOURS_PER_WEEK
_CRON_DAY = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_CRON_NAME = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Window:
    """One named period's recurring window: the days it starts on and its start/end hours."""

    name: str
    days: tuple[str, ...]
    start_hour: int
    end_hour: int

    @property
    def hours_per_day(self) -> int:
        return (self.end_hour - self.start_hour) % 24 or 24

    def hours_of_week(self) -> list[int]:
        """Every hour of the week this window owns, in order of its starts."""
        hours: list[int] = []
        for day in self.days:
            first = WEEKDAYS.index(day) * 24 + self.start_hour
            hours.extend((first + offset) % HOURS_PER_WEEK for offset in range(self.hours_per_day))
        return hours

    def start_hours_of_week(self) -> list[int]:
        return sorted(WEEKDAYS.index(day) * 24 + self.start_hour for day in self.days)


def describe_hour(hour_of_week: int) -> str:
    return f"{WEEKDAYS[hour_of_week // 24].capitalize()} {hour_of_week % 24:02d}:00"


def coverage_problems(windows: Sequence[Window]) -> list[str]:
    """Gaps and overlaps, as sentences; empty when every hour of the week has exactly one owner."""
    owners: dict[int, list[str]] = {h: [] for h in range(HOURS_PER_WEEK)}
    for window in windows:
        for hour in window.hours_of_week():
            owners[hour].append(window.name)
    problems: list[str] = []
    overlaps = [(h, names) for h, names in owners.items() if len(names) > 1]
    gaps = [h for h, names in owners.items() if not names]
    for names, hours in _group_runs(overlaps):
        problems.append(f"periods {' and '.join(sorted(set(names)))} both claim {hours}")
    for _, hours in _group_runs([(h, ["(none)"]) for h in gaps]):
        problems.append(f"no period covers {hours}")
    return problems


def _group_runs(items: Iterable[tuple[int, list[str]]]) -> list[tuple[list[str], str]]:
    """Collapse consecutive hours with the same owners into 'Mon 09:00-Mon 10:00 (2 h)' ranges."""
    runs: list[tuple[list[str], int, int]] = []
    for hour, names in items:
        if runs and runs[-1][0] == names and runs[-1][2] == hour - 1:
            runs[-1] = (names, runs[-1][1], hour)
        else:
            runs.append((names, hour, hour))
    # A run through Sunday midnight into Monday is one run, not two.
    if len(runs) > 1 and runs[0][1] == 0 and runs[-1][2] == HOURS_PER_WEEK - 1 and runs[0][0] == runs[-1][0]:
        names, first, _ = runs.pop()
        runs[0] = (names, first, runs[0][2] + HOURS_PER_WEEK)
    return [
        (names, f"{describe_hour(first)}-{describe_hour((last + 1) % HOURS_PER_WEEK)} ({last - first + 1} h)")
        for names, first, last in runs
    ]


def cron_recurrence(window: Window) -> str:
    """The 5-field Unix cron expression that fires at the window's start on each of its days."""
    numbers = sorted(_CRON_DAY[d] for d in window.days)
    return f"0 {window.start_hour} * * {_cron_days(numbers)}"


def end_cron_recurrence(window: Window) -> str:
    """The cron expression that fires where each of the window's runs ends (the next day's hour when
    it runs past midnight), so a start/end pair of crons covers exactly the window's hours."""
    end = window.start_hour + window.hours_per_day
    shift, hour = divmod(end, 24)
    days = [WEEKDAYS[(WEEKDAYS.index(d) + shift) % 7] for d in window.days]
    return f"0 {hour} * * {_cron_days(sorted({_CRON_DAY[d] for d in days}))}"


def _cron_days(numbers: list[int]) -> str:
    if len(numbers) == 7:
        return "*"
    parts: list[str] = []
    run: list[int] = []
    for n in numbers + [99]:
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            parts.append(
                f"{_CRON_NAME[run[0]]}-{_CRON_NAME[run[-1]]}" if len(run) > 2 else ",".join(_CRON_NAME[x] for x in run)
            )
        run = [n]
    return ",".join(parts)


@dataclass(frozen=True)
class Capacity:
    min_size: int
    max_size: int
    desired: int


@dataclass(frozen=True)
class Action:
    """A scheduled action as AWS applies it: None leaves a field unchanged (the API's -1)."""

    hour_of_week: int
    min_size: int | None
    max_size: int | None
    desired: int | None


def apply_action(current: Capacity, action: Action) -> Capacity:
    """The group's sizes after a scheduled action, clamping desired into [min, max] as AWS does."""
    min_size = current.min_size if action.min_size is None else action.min_size
    max_size = current.max_size if action.max_size is None else action.max_size
    desired = current.desired if action.desired is None else action.desired
    return Capacity(min_size, max_size, max(min_size, min(desired, max_size)))


def capacity_by_hour(initial: Capacity, actions: Sequence[Action]) -> list[Capacity]:
    """The pool's sizes at every hour of the week, in the steady state of the weekly cycle.

    Simulates two weeks and keeps the second, so that the state carried over from Sunday night into
    Monday morning is the one the recurring actions really leave behind.
    """
    if not actions:
        return [initial] * HOURS_PER_WEEK
    by_hour: dict[int, list[Action]] = {}
    for action in actions:
        by_hour.setdefault(action.hour_of_week, []).append(action)
    state = initial
    week: list[Capacity] = []
    for step in range(2 * HOURS_PER_WEEK):
        for action in by_hour.get(step % HOURS_PER_WEEK, []):
            state = apply_action(state, action)
        if step >= HOURS_PER_WEEK:
            week.append(state)
    return week


def hours_per_month(hours_per_week: int | Decimal) -> Decimal:
    return Decimal(hours_per_week) * WEEKS_PER_MONTH


def instance_hours_per_month(by_hour: Sequence[Capacity]) -> Decimal:
    """Monthly instance-hours of desired capacity over a weekly cycle."""
    return hours_per_month(sum(c.desired for c in by_hour))
