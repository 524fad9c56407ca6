"""InterruptionQueue: the events that announce a node's end, queued for the termination handler.

EventBridge rules for spot interruption warnings, rebalance recommendations, instance state
changes, AWS Health scheduled changes and the GPU groups' terminate lifecycle action, all into
one SQS queue encrypted with SQS-managed keys (SSE-SQS: no key to pay for or grant EventBridge).
Messages live 5 minutes: an interruption older than its 2-minute notice is history.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStrList
from infra.platform_iam import interruption_event_patterns, interruption_queue_policy

RETENTION_SECONDS = 300


def _pattern_json(patterns: dict[str, dict[str, Any]], kind: str) -> str:
    return json.dumps(patterns[kind], sort_keys=True)


class InterruptionQueueArgs(ComponentArgs):
    name_prefix: str
    asg_names: InputStrList
    """The GPU groups whose terminate lifecycle actions the handler completes."""
    tags: dict[str, str]


class InterruptionQueue(pulumi.ComponentResource):
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]

    def __init__(self, name: str, args: InterruptionQueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:platform:InterruptionQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=f"{args.name_prefix}-interruptions",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=RETENTION_SECONDS,
            tags=args.tags,
            opts=child,
        )
        patterns = pulumi.Output.from_input(args.asg_names).apply(interruption_event_patterns)
        rule_arns: list[pulumi.Output[str]] = []
        for kind in ("spot-interruption", "rebalance", "state-change", "scheduled-change", "asg-terminate"):
            rule = aws.cloudwatch.EventRule(
                f"{name}-{kind}",
                name=f"{args.name_prefix}-{kind}",
                description=f"{kind} events for {args.name_prefix}'s node termination handler",
                event_pattern=patterns.apply(functools.partial(_pattern_json, kind=kind)),
                tags=args.tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{kind}", rule=rule.name, arn=queue.arn, target_id="node-termination-handler", opts=child
            )
            rule_arns.append(rule.arn)
        aws.sqs.QueuePolicy(
            f"{name}-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *rule_arns).apply(lambda v: interruption_queue_policy(v[0], v[1:])),
            opts=child,
        )
        self.queue_url = queue.url
        self.queue_arn = queue.arn
        self.register_outputs({"queue_url": self.queue_url, "queue_arn": self.queue_arn})
