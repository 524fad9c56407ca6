"""ScalingSchedule: compiles the stack's named periods into recurring auto-scaling actions per pool."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr
from infra.config import ScheduleConfig
from infra.schedule import cron_recurrence

# aws.autoscaling.Schedule treats an omitted size as 0, which would scale a pool to nothing; -1 is
# the provider's "leave unchanged".
UNCHANGED = -1


class ScalingScheduleArgs(ComponentArgs):
    schedule: ScheduleConfig
    asg_names: dict[str, InputStr]
    """Auto-scaling group name per pool name."""


class ScalingSchedule(pulumi.ComponentResource):
    action_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ScalingScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:schedule:ScalingSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names: list[str] = []
        for period in args.schedule.periods:
            recurrence = cron_recurrence(period.window)
            for pool_name, cap in sorted(period.capacity.items()):
                action_name = f"{period.name}-{pool_name}"
                aws.autoscaling.Schedule(
                    f"{name}-{action_name}",
                    scheduled_action_name=action_name,
                    autoscaling_group_name=args.asg_names[pool_name],
                    recurrence=recurrence,
                    time_zone=args.schedule.time_zone,
                    min_size=UNCHANGED if cap.min is None else cap.min,
                    max_size=UNCHANGED if cap.max is None else cap.max,
                    desired_capacity=UNCHANGED if cap.desired is None else cap.desired,
                    opts=child,
                )
                names.append(action_name)
        self.action_names = pulumi.Output.from_input(names)
        self.register_outputs({"action_names": self.action_names})
