"""The opt-in guard: on a FORECASTED budget breach, cap the stack's GPU groups' maximum size.

Only groups this stack declared (their names come from the program) and that carry the stack's tag
are touched; the function's IAM policy allows UpdateAutoScalingGroup only on groups with that tag,
so a wrong name cannot reach another stack. Lowering max also lowers min and desired where they
are above the cap, because Auto Scaling refuses min > max. Never on a prod stack: the config
refuses it, the policy pack refuses it, and this code refuses it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import StackContext

PROD = "prod"


@dataclass(frozen=True)
class GuardOutcome:
    changed: tuple[str, ...]
    """"name: max 4 -> 1" for every group whose maximum was lowered."""
    unchanged: tuple[str, ...]
    note: str


class GuardRefused(RuntimeError):
    pass


def undo_hint(ctx: StackContext) -> str:
    return (
        "To undo: `pulumi up` on the stack restores the configured sizes, or "
        f"`aws autoscaling update-auto-scaling-group --region {ctx.guard.region} "
        "--auto-scaling-group-name <group> --max-size <configured max>`."
    )


def apply_guard(autoscaling: Any, ctx: StackContext) -> GuardOutcome:
    guard = ctx.guard
    if ctx.environment == PROD:
        raise GuardRefused(f"the guard never acts on a prod stack ({ctx.label})")
    if not guard.asg_names:
        return GuardOutcome((), (), "Guard enabled but the stack declares no GPU groups; nothing was changed.")
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(guard.asg_names))["AutoScalingGroups"]
    changed, unchanged = [], []
    for group in groups:
        name = group["AutoScalingGroupName"]
        tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
        if tags.get(guard.tag_key) != guard.tag_value:
            unchanged.append(f"{name}: not tagged {guard.tag_key}={guard.tag_value}, left alone")
            continue
        old_max = int(group["MaxSize"])
        if old_max <= guard.max_size:
            unchanged.append(f"{name}: max already {old_max}")
            continue
        cap = guard.max_size
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=name,
            MaxSize=cap,
            MinSize=min(int(group["MinSize"]), cap),
            DesiredCapacity=min(int(group["DesiredCapacity"]), cap),
        )
        changed.append(f"{name}: max {old_max} -> {cap}")
    if changed:
        note = (
            f"Guard action: the forecast breach capped this stack's GPU groups at max {guard.max_size} "
            f"({'; '.join(changed)}). Nodes above the cap are terminated; a schedule period that sets its own "
            f"max raises it again at its next start. {undo_hint(ctx)}"
        )
    else:
        note = (
            f"Guard: this stack's GPU groups are already at or below max {guard.max_size} "
            f"({'; '.join(unchanged)}). {undo_hint(ctx)}"
        )
    return GuardOutcome(tuple(changed), tuple(unchanged), note)
