"""From an SNS envelope (the body SQS hands the function) to an `Alert`, whatever published it."""

from __future__ import annotations

import json
from typing import Any

from .alarm import looks_like_alarm, parse_alarm
from .anomaly import looks_like_anomaly, parse_anomaly
from .budget import looks_like_budget, parse_budget
from .model import Alert

__all__ = ["Alert", "parse_notification"]


def parse_notification(subject: str, message: str) -> Alert:
    """The alert an SNS notification carries; anything unrecognised is passed on as text, never dropped."""
    try:
        doc: Any = json.loads(message)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and looks_like_anomaly(doc):
        return parse_anomaly(doc)
    if isinstance(doc, dict) and looks_like_alarm(doc):
        return parse_alarm(doc)
    if looks_like_budget(subject, message):
        return parse_budget(subject, message)
    return Alert(
        kind="unrecognised",
        title=subject or "AWS notification",
        summary="A notification this forwarder does not recognise; its text follows.",
        details=(message[:2500],),
    )
