"""The stack's own figures every message carries, read from the function's environment.

The program passes one JSON document (environment variable `FRUGAL_ALERT_CONTEXT`):

    {"project": "frugal-llm", "stack": "dev", "environment": "dev", "region": "us-east-1",
     "budget_limit_usd": "400",
     "cost": {"expected_monthly_cost_usd": "153.20" | null,
              "top_items": [{"name": "pool-small-asg", "monthly_usd": "98.10"}, ...]},
     "guard": {"enabled": true, "max_size": 0, "region": "us-east-1",
               "asg_names": ["..."], "tag_key": "frugal-stack", "tag_value": "frugal-llm-dev"}}

Missing cost figures are shown as unknown, never as 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ENV_VAR = "FRUGAL_ALERT_CONTEXT"


class ContextError(ValueError):
    """The function's context document is missing or malformed (a deployment problem, not an alert problem)."""


@dataclass(frozen=True)
class CostItem:
    name: str
    monthly_usd: str


@dataclass(frozen=True)
class GuardSettings:
    enabled: bool = False
    max_size: int = 0
    region: str = "us-east-1"
    asg_names: tuple[str, ...] = ()
    tag_key: str = "frugal-stack"
    tag_value: str = ""


@dataclass(frozen=True)
class StackContext:
    project: str
    stack: str
    environment: str
    region: str
    budget_limit_usd: str | None = None
    expected_monthly_cost_usd: str | None = None
    top_items: tuple[CostItem, ...] = ()
    guard: GuardSettings = field(default_factory=GuardSettings)

    @property
    def label(self) -> str:
        return f"{self.project}-{self.stack} ({self.environment})"


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def parse_context(raw: str | None) -> StackContext:
    if not raw:
        raise ContextError(f"{ENV_VAR} is not set; fix: deploy the function through frugal's BudgetAlarms component")
    try:
        doc = json.loads(raw)
        cost = doc.get("cost") or {}
        guard = doc.get("guard") or {}
        return StackContext(
            project=str(doc["project"]),
            stack=str(doc["stack"]),
            environment=str(doc["environment"]),
            region=str(doc["region"]),
            budget_limit_usd=_str_or_none(doc.get("budget_limit_usd")),
            expected_monthly_cost_usd=_str_or_none(cost.get("expected_monthly_cost_usd")),
            top_items=tuple(CostItem(str(i["name"]), str(i["monthly_usd"])) for i in cost.get("top_items") or []),
            guard=GuardSettings(
                enabled=bool(guard.get("enabled", False)),
                max_size=int(guard.get("max_size", 0)),
                region=str(guard.get("region", doc["region"])),
                asg_names=tuple(str(n) for n in guard.get("asg_names") or []),
                tag_key=str(guard.get("tag_key", "frugal-stack")),
                tag_value=str(guard.get("tag_value", "")),
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ContextError(f"{ENV_VAR} is not a valid context document ({exc!r}); fix: redeploy the stack") from exc
