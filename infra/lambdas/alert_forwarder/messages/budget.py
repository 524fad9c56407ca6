"""AWS Budgets notifications (ACTUAL and FORECASTED).

AWS Budgets publishes plain text to SNS, not JSON (sample: tests/infra/data/alerts/budget-*.json):

    AWS Budget Notification May 04, 2026
    ...
    Budget Name: frugal-llm-dev-monthly
    Budget Type: Cost
    Budgeted Amount: $400.00
    Alert Type: FORECASTED
    Alert Threshold: > $400.00
    FORECASTED Amount: $512.40

The labelled lines are what this parser reads; the prose around them varies and is ignored.
"""

from __future__ import annotations

import re

from .model import Alert, money

_FIELD = re.compile(
    r"^(Budget Name|Budget Type|Budgeted Amount|Alert Type|Alert Threshold|ACTUAL Amount|FORECASTED Amount)"
    r":\s*(.+?)\s*$",
    re.M,
)
_AMOUNT = re.compile(r"\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)")


def looks_like_budget(subject: str, message: str) -> bool:
    return subject.startswith("AWS Budgets") or "Budget Name:" in message


def _amount(text: str | None) -> float | None:
    match = _AMOUNT.search(text or "")
    return float(match.group(1).replace(",", "")) if match else None


def parse_budget(subject: str, message: str) -> Alert:
    fields = {k: v for k, v in _FIELD.findall(message)}
    kind = fields.get("Alert Type", "ACTUAL" if "ACTUAL" in message else "FORECASTED").upper()
    name = fields.get("Budget Name") or subject.removeprefix("AWS Budgets: ").split(" has exceeded")[0]
    limit = _amount(fields.get("Budgeted Amount"))
    threshold = _amount(fields.get("Alert Threshold"))
    amount = _amount(fields.get(f"{kind} Amount"))
    pct_of_limit = f" ({amount / limit:.0%} of the limit)" if amount is not None and limit else ""
    verb = "is forecast to reach" if kind == "FORECASTED" else "has reached"
    summary = (
        f"Budget '{name}' {verb} {money(amount)} this month{pct_of_limit}, above its alert threshold "
        f"{money(threshold)}; the monthly limit is {money(limit)}."
    )
    advice = (
        ("A forecast, not yet spent: acting now is what keeps the month within the limit.",)
        if kind == "FORECASTED"
        else ()
    )
    return Alert(
        kind="budget",
        title=f"Budget {kind.lower()} spend alert: {name}",
        summary=summary,
        facts=(
            ("Budget", name),
            ("Alert type", kind),
            (f"{kind.capitalize()} spend", money(amount)),
            ("Threshold", money(threshold)),
            ("Monthly limit", money(limit)),
        ),
        link="https://console.aws.amazon.com/billing/home#/budgets",
        forecasted_breach=kind == "FORECASTED",
        advice=advice,
    )
