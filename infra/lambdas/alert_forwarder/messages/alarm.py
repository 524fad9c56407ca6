"""CloudWatch alarm state changes: the account's billing alarm and the delivery dead-letter alarm.

CloudWatch publishes a JSON document (sample: tests/infra/data/alerts/billing-alarm.json) with
AlarmName, AlarmDescription, NewStateValue, OldStateValue, NewStateReason, StateChangeTime and a
Trigger (MetricName, Namespace, Threshold, Period, ...). For `AWS/Billing EstimatedCharges` the
reason carries the month-to-date amount as the datapoint: "... [1234.0 (06/03/15 17:43:00)] was
greater than the threshold (400.0) ...".
"""

from __future__ import annotations

import re
from typing import Any

from .model import Alert, money

_DATAPOINT = re.compile(r"\[([0-9]+(?:\.[0-9]+)?) \(")


def looks_like_alarm(doc: dict[str, Any]) -> bool:
    return "AlarmName" in doc and "NewStateValue" in doc


def parse_alarm(doc: dict[str, Any]) -> Alert:
    trigger = doc.get("Trigger") or {}
    name = str(doc.get("AlarmName"))
    new, old = str(doc.get("NewStateValue")), str(doc.get("OldStateValue") or "?")
    reason = str(doc.get("NewStateReason") or "")
    datapoint = _DATAPOINT.search(reason)
    facts: list[tuple[str, str]] = [("Alarm", name), ("State", f"{old} -> {new}")]
    if trigger.get("MetricName") == "EstimatedCharges" and trigger.get("Namespace") == "AWS/Billing":
        amount = float(datapoint.group(1)) if datapoint else None
        threshold = trigger.get("Threshold")
        facts += [("Month-to-date charges", money(amount)), ("Threshold", money(threshold))]
        if new == "ALARM":
            summary = (
                f"The whole account's estimated charges this month are {money(amount)}, above {money(threshold)}: "
                "spend outside this stack's tagged resources may be counted too."
            )
        else:
            summary = f"The billing alarm is now {new} (month-to-date charges {money(amount)})."
        return Alert(
            kind="billing-alarm",
            title=f"Billing alarm {new}: {name}",
            summary=summary,
            facts=tuple(facts),
            details=(reason,) if reason else (),
            link="https://console.aws.amazon.com/billing/home#/bills",
        )
    metric = f"{trigger.get('Namespace', '?')} {trigger.get('MetricName', '?')}"
    facts.append(("Metric", metric))
    description = str(doc.get("AlarmDescription") or "")
    return Alert(
        kind="alarm",
        title=f"Alarm {new}: {name}",
        summary=description or f"{name} changed from {old} to {new}.",
        facts=tuple(facts),
        details=(reason,) if reason else (),
    )
