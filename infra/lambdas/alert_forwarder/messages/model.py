"""What every alert type is reduced to before it is rendered: a title, a summary and labelled facts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alert:
    kind: str
    """budget | billing-alarm | alarm | anomaly | unrecognised"""
    title: str
    summary: str
    facts: tuple[tuple[str, str], ...] = ()
    details: tuple[str, ...] = ()
    """Extra lines (root causes, the alarm's reason), shown under the facts."""
    link: str | None = None
    forecasted_breach: bool = False
    """A FORECASTED budget notification: the trigger of the opt-in guard."""
    advice: tuple[str, ...] = field(default=())


def money(value: float | int | str | None) -> str:
    """$1,234.56, or 'unknown' (never a made-up 0)."""
    if value is None or value == "":
        return "unknown"
    try:
        return f"${float(str(value).replace(',', '').lstrip('$')):,.2f}"
    except ValueError:
        return str(value)
