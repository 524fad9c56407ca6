"""BudgetAlarms: the stack's money alarms, wired to one encrypted SNS topic.

- an AWS Budget (monthly COST, filtered by the stack's cost-allocation tag) with ACTUAL and
  FORECASTED notifications to e-mail and the topic;
- a CloudWatch alarm on `AWS/Billing EstimatedCharges`, which exists only in us-east-1, so this
  whole component runs through a us-east-1 provider (an alarm can only notify a topic in its region);
- Cost Anomaly Detection: a monitor scoped to the stack's tag and an IMMEDIATE subscription (the
  only frequency that can deliver to SNS);
- activation of the cost-allocation tags, without which the budget filter and the monitor see nothing;
- optionally the queued Slack delivery path (AlertDelivery: SQS, dead-letter queue and its alarm,
  the forwarder Lambda), its webhook URL read at run time from a Secrets Manager secret (never from
  stack config).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.alert_context import alert_context
from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr, InputStrList
from infra.components.alert_delivery import AlertDelivery, AlertDeliveryArgs
from infra.config import AnomalyConfig, BudgetConfig

# Services that publish to the topic: budgets, cost anomaly detection, CloudWatch alarms.
PUBLISHERS = ("budgets.amazonaws.com", "costalerts.amazonaws.com", "cloudwatch.amazonaws.com")


class BudgetAlarmsArgs(ComponentArgs):
    budget: BudgetConfig
    anomaly: AnomalyConfig
    stack_tag: tuple[str, str]
    """The (key, value) cost-allocation tag that identifies this stack's resources."""
    cost_allocation_tag_keys: list[str]
    name_prefix: str
    tags: dict[str, str]
    stack: str = ""
    environment: str = ""
    region: str = "us-east-1"
    """The stack's own region, where its GPU groups (the guard's targets) live."""
    cost_summary: InputStr = None
    """JSON {"expected_monthly_cost_usd", "top_items"} from the cost preview (infra/alert_context.cost_summary)."""
    gpu_asg_names: InputStrList = []


class BudgetAlarms(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    budget_name: pulumi.Output[str]
    anomaly_monitor_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BudgetAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:budget:BudgetAlarms", name, None, opts)
        tags = args.tags
        us_east_1 = aws.Provider(f"{name}-us-east-1", region="us-east-1", opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=us_east_1)
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        key = aws.kms.Key(
            f"{name}-alerts",
            description=f"Encrypts the {args.name_prefix} budget and anomaly alert topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account_id.apply(_key_policy),
            tags=tags,
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-alerts",
            display_name=f"{args.name_prefix} cost alerts",
            kms_master_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-alerts",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account_id).apply(lambda v: _topic_policy(v[0], v[1])),
            opts=child,
        )
        for i, address in enumerate(args.budget.subscribers):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=topic.arn, protocol="email", endpoint=address, opts=child
            )

        tag_key, tag_value = args.stack_tag
        notifications: list[aws.budgets.BudgetNotificationArgsDict] = [
            {
                "comparison_operator": "GREATER_THAN",
                "threshold": pct,
                "threshold_type": "PERCENTAGE",
                "notification_type": kind,
                "subscriber_email_addresses": list(args.budget.subscribers),
                "subscriber_sns_topic_arns": [topic.arn],
            }
            for kind, pcts in (
                ("ACTUAL", args.budget.actual_thresholds_pct),
                ("FORECASTED", args.budget.forecasted_thresholds_pct),
            )
            for pct in pcts
        ]
        budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=f"{args.name_prefix}-monthly",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=str(args.budget.monthly_limit_usd),
            limit_unit="USD",
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:{tag_key}${tag_value}"]}],
            notifications=notifications,
            tags=tags,
            opts=child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-estimated-charges",
            alarm_description=(
                f"Account-wide month-to-date charges above {args.name_prefix}'s budget: a backstop for when "
                "tag-filtered budgets miss untagged spend. Needs 'Receive Billing Alerts' enabled once per account."
            ),
            namespace="AWS/Billing",
            metric_name="EstimatedCharges",
            dimensions={"Currency": "USD"},
            statistic="Maximum",
            period=21600,  # the metric is published about every 6 hours
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=float(args.budget.monthly_limit_usd),
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            tags=tags,
            opts=child,
        )
        monitor = aws.costexplorer.AnomalyMonitor(
            f"{name}-anomalies",
            name=f"{args.name_prefix}-anomalies",
            monitor_type="CUSTOM",
            monitor_specification=json.dumps(
                {"Tags": {"Key": tag_key, "Values": [tag_value], "MatchOptions": ["EQUALS"]}}
            ),
            tags=tags,
            opts=child,
        )
        aws.costexplorer.AnomalySubscription(
            f"{name}-anomalies",
            name=f"{args.name_prefix}-anomalies",
            frequency="IMMEDIATE",
            monitor_arn_lists=[monitor.arn],
            subscribers=[{"type": "SNS", "address": topic.arn}],
            threshold_expression={
                "dimension": {
                    "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                    "match_options": ["GREATER_THAN_OR_EQUAL"],
                    "values": [str(args.anomaly.threshold_usd)],
                }
            },
            tags=tags,
            opts=child,
        )
        for tag in args.cost_allocation_tag_keys:
            # AWS accepts activation only once the key has appeared in billing data (up to 24 h after
            # the first tagged resource); README "First deploy" explains the second `pulumi up`.
            aws.costexplorer.CostAllocationTag(f"{name}-tag-{tag}", tag_key=tag, status="Active", opts=child)

        if args.budget.slack_webhook_secret_name:
            context = pulumi.Output.all(pulumi.Output.from_input(args.cost_summary), args.gpu_asg_names).apply(
                lambda v: alert_context(
                    stack=args.stack,
                    environment=args.environment,
                    region=args.region,
                    budget=args.budget,
                    cost_summary_json=v[0],
                    gpu_asg_names=list(v[1] or []),
                    stack_tag=args.stack_tag,
                )
            )
            AlertDelivery(
                f"{name}-delivery",
                AlertDeliveryArgs(
                    name_prefix=args.name_prefix,
                    topic_arn=topic.arn,
                    slack_webhook_secret_name=args.budget.slack_webhook_secret_name,
                    context_json=context,
                    guard_enabled=args.budget.guard.enabled,
                    guard_region=args.region,
                    stack_tag=args.stack_tag,
                    account_id=account_id,
                    tags=tags,
                    gpu_asg_names=args.gpu_asg_names,
                ),
                pulumi.ResourceOptions(parent=self, providers=[us_east_1]),
            )

        self.topic_arn = topic.arn
        self.budget_name = budget.name
        self.anomaly_monitor_arn = monitor.arn
        self.register_outputs(
            {"topic_arn": self.topic_arn, "budget_name": self.budget_name, "anomaly_monitor_arn": monitor.arn}
        )


def _key_policy(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    # An encrypted topic accepts a service's message only if the service may use the key.
                    "Sid": "AlertServicesEncrypt",
                    "Effect": "Allow",
                    "Principal": {"Service": list(PUBLISHERS)},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                },
            ],
        }
    )


def _topic_policy(topic_arn: str, account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AlertServicesPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": list(PUBLISHERS)},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    # Confused-deputy guard: only this account's budgets/monitors/alarms.
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
                {
                    "Sid": "AccountManages",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Publish"],
                    "Resource": topic_arn,
                },
            ],
        }
    )
