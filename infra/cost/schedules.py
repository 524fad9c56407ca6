"""Scheduled actions read from a plan: cron `recurrence` + `timeZone` -> hour-of-week start actions.

Pure. AWS runs a recurring action at each cron fire time in the action's time zone; the cost model
works in hours of the week (Monday 00:00 = 0, `infra.schedule`), so each fire time becomes an
`Action` at the hour that contains it. A fire at minute m > 0 is placed at the start of its hour
(an error of at most 59 minutes per action, reported as an assumption).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from infra.plan import is_unknown
from infra.schedule import HOURS_PER_WEEK, Action

# A Monday in January: the reference week in which cron expressions are expanded. Only the time of
# week matters; January pins the UTC offset used when a group's actions mix time zones.
REFERENCE_MONDAY = datetime(2024, 1, 1)
"""How a plan marks a value not known until the update runs (infra.readers, and the CLI's raw sentinel)."""


class ScheduleError(ValueError):
    """A scheduled action whose recurrence cannot be read."""


@dataclass
class ReadActions:
    actions: list[Action]
    notes: list[str] = field(default_factory=list)


def _size(inputs: dict[str, Any], key: str) -> int | None:
    """A size field as AWS applies it: -1 = unchanged (None); an omitted size defaults to 0."""
    raw = inputs.get(key, 0)
    if raw is None or is_unknown(raw):
        return None
    value = int(float(raw))
    return None if value == -1 else value


def fire_hours_of_week(recurrence: str) -> tuple[list[int], bool]:
    """Hours of the week (local time) at which a 5-field cron expression fires; and whether any
    fire time was not on the hour."""
    if not croniter.is_valid(recurrence) or len(recurrence.split()) != 5:
        raise ScheduleError(
            f"recurrence {recurrence!r} is not a 5-field Unix cron expression; "
            "fix: write e.g. '0 8 * * MON-FRI' (AWS scheduled actions use this format)"
        )
    start = REFERENCE_MONDAY - timedelta(seconds=1)
    end = REFERENCE_MONDAY + timedelta(hours=HOURS_PER_WEEK)
    it = croniter(recurrence, start)
    hours: list[int] = []
    off_the_hour = False
    while True:
        fire: datetime = it.get_next(datetime)
        if fire >= end:
            break
        off_the_hour = off_the_hour or fire.minute != 0
        hour = int((fire - REFERENCE_MONDAY).total_seconds() // 3600)
        if not hours or hours[-1] != hour:
            hours.append(hour)
    return hours, off_the_hour


def _utc_shift_hours(time_zone: str) -> int:
    offset = ZoneInfo(time_zone).utcoffset(REFERENCE_MONDAY)
    return int(offset.total_seconds() // 3600) if offset is not None else 0


def actions_from_schedules(schedules: list[tuple[str, dict[str, Any]]]) -> ReadActions:
    """The group's Actions from (name, inputs) of its aws:autoscaling/schedule:Schedule resources."""
    zones = {inputs.get("timeZone") or "UTC" for _, inputs in schedules if inputs.get("recurrence")}
    mixed = len(zones) > 1
    read = ReadActions(actions=[])
    if mixed:
        read.notes.append(
            f"the group's actions use several time zones ({', '.join(sorted(zones))}); their hours were "
            "converted to UTC at January offsets (daylight saving shifts them by an hour half the year)"
        )
    for name, inputs in schedules:
        recurrence = inputs.get("recurrence")
        if not recurrence or is_unknown(recurrence):
            read.notes.append(
                f"scheduled action {name} has no recurrence (a one-off action at its start_time): not priced "
                "as part of the weekly cycle"
            )
            continue
        if inputs.get("startTime") or inputs.get("endTime"):
            read.notes.append(
                f"scheduled action {name} has a start/end time; it is priced as if it recurred every week"
            )
        try:
            hours, off_the_hour = fire_hours_of_week(recurrence)
        except ScheduleError as exc:
            raise ScheduleError(f"scheduled action {name}: {exc}") from None
        if off_the_hour:
            read.notes.append(
                f"scheduled action {name} ('{recurrence}') fires off the hour; priced from the hour's start"
            )
        shift = -_utc_shift_hours(inputs.get("timeZone") or "UTC") if mixed else 0
        sizes = (_size(inputs, "minSize"), _size(inputs, "maxSize"), _size(inputs, "desiredCapacity"))
        read.actions.extend(Action((h + shift) % HOURS_PER_WEEK, *sizes) for h in hours)
    return read
