"""The Slack incoming-webhook payload: Block Kit blocks plus a plain-text `text` fallback.

Slack shows `text` in notifications and wherever blocks cannot be rendered, so it carries the
whole message in one paragraph. Every message names the stack and environment and ends with the
stack's expected monthly cost and its biggest cost items: what drives the spend and what to change.
"""

from __future__ import annotations

from typing import Any

from ..context import StackContext
from .model import Alert, money

MAX_SECTION_CHARS = 2900  # Slack refuses a section text above 3000 characters
CHANGE_HINT = (
    "To spend less: lower pools[].max_size or desired_capacity, scale down off-peak (schedule.periods), "
    "raise the spot share (on_demand_percentage_above_base); `frugal preview --stack {stack}` prices a change."
)


def _cost_lines(ctx: StackContext) -> list[str]:
    lines = [
        f"Expected monthly cost of {ctx.project}-{ctx.stack} (cost preview): {money(ctx.expected_monthly_cost_usd)}"
        + (f" against a {money(ctx.budget_limit_usd)} budget." if ctx.budget_limit_usd else ".")
    ]
    if ctx.top_items:
        lines.append("Biggest items: " + ", ".join(f"{i.name} {money(i.monthly_usd)}" for i in ctx.top_items) + ".")
    return lines


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS]}}


def render(alert: Alert, ctx: StackContext, guard_note: str | None = None) -> dict[str, Any]:
    where = f"Stack {ctx.project}-{ctx.stack}, environment {ctx.environment}"
    cost = _cost_lines(ctx)
    hint = CHANGE_HINT.format(stack=ctx.stack)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": where}]},
        _section(alert.summary),
    ]
    if alert.facts:
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in alert.facts[:10]]}
        )
    if alert.details:
        blocks.append(_section("\n".join(alert.details)))
    if guard_note:
        blocks.append(_section(f":warning: {guard_note}"))
    blocks.append(_section("\n".join([*cost, *alert.advice, hint])))
    if alert.link:
        blocks.append(_section(f"<{alert.link}|Open in the AWS console>"))
    text = " ".join(
        [f"{alert.title}. {where}.", alert.summary, *(guard_note and [guard_note] or []), *cost, *alert.advice]
    )
    return {"text": text, "blocks": blocks}
