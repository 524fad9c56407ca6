"""AlertDelivery: the alert topic's queued path to Slack, built so that no alert is silently lost.

    alert topic ──► SQS queue (SSE-SQS) ──► event source (batches, partial failures) ──► forwarder ──► Slack
         │                │ after MAX_RECEIVES receives
         │                └──► dead-letter queue ──► CloudWatch alarm (depth > 0) ──► alert topic ──► e-mail subscribers
         └──► e-mail subscribers (unchanged, independent of all of the above)

- The queue keeps each message until the forwarder reports it delivered; the forwarder sets a failed
  message's visibility timeout to Slack's Retry-After or its own back-off (alert_forwarder/retry.py),
  so a Slack outage of about three hours is bridged before a message is dead-lettered.
- Encryption: SSE-SQS (SQS-managed keys). A customer managed key would need SNS, Lambda and the
  key policy to agree; one mistake there stops SNS from delivering to the queue without an error
  anyone sees, which is the failure this path exists to prevent. The messages already sit in a
  CMK-encrypted topic; SSE-SQS adds no KMS request charges.
- The dead-letter alarm goes to the alert topic: its e-mail subscriptions are already confirmed and
  do not pass through the queue or the function, so a broken forwarder still reaches people.
- Duplicates (SNS is at-least-once) are dropped through a DynamoDB table keyed by SNS MessageId with
  a TTL. A FIFO queue cannot take this role: FIFO queues subscribe only to FIFO topics, and Budgets,
  CloudWatch alarms and Cost Anomaly Detection publish to standard topics.
- The function is packaged from the `alert_forwarder` package's files (pulumi.AssetArchive of
  FileAssets under `alert_forwarder/`); it imports only the standard library and boto3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr, InputStrList
from infra.lambdas.alert_forwarder.retry import DEFAULT_RETRY, FUNCTION_TIMEOUT_SECONDS, MAX_RECEIVES

PACKAGE_DIR = Path(__file__).parent.parent / "lambdas" / "alert_forwarder"
PACKAGE_NAME = "alert_forwarder"
HANDLER = f"{PACKAGE_NAME}.handler.handler"
BATCH_SIZE = 10
BATCH_WINDOW_SECONDS = 5
# The lowest concurrency an SQS event source allows; with one post a second per invocation Slack
# sees at most about two a second, and its 429 + Retry-After covers the rest.
MAX_CONCURRENCY = 2
# AWS: the source queue's visibility timeout at least six times the function's timeout.
VISIBILITY_TIMEOUT_SECONDS = 6 * FUNCTION_TIMEOUT_SECONDS
# Retries span DEFAULT_RETRY.total_seconds(); keep messages a day longer than that, DLQ the maximum.
QUEUE_RETENTION_SECONDS = DEFAULT_RETRY.total_seconds(MAX_RECEIVES) + 86_400
DLQ_RETENTION_SECONDS = 14 * 86_400
LOG_RETENTION_DAYS = 30


def package_files() -> dict[str, Path]:
    """Every module of the forwarder package, keyed by its path inside the Lambda zip."""
    return {
        f"{PACKAGE_NAME}/{p.relative_to(PACKAGE_DIR).as_posix()}": p
        for p in sorted(PACKAGE_DIR.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


class AlertDeliveryArgs(ComponentArgs):
    name_prefix: str
    topic_arn: InputStr
    slack_webhook_secret_name: str
    context_json: InputStr
    """The FRUGAL_ALERT_CONTEXT document (infra/alert_context.py)."""
    guard_enabled: bool
    guard_region: str
    stack_tag: tuple[str, str]
    account_id: InputStr
    tags: dict[str, str]
    gpu_asg_names: InputStrList = []


class AlertDelivery(pulumi.ComponentResource):
    queue_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]

    def __init__(self, name: str, args: AlertDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:budget:AlertDelivery", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags, prefix = args.tags, args.name_prefix

        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{prefix}-alerts-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=f"{prefix}-alerts",
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_SECONDS,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            receive_wait_time_seconds=20,
            redrive_policy=dlq.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES})
            ),
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-queue",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, args.topic_arn).apply(lambda v: _queue_policy(v[0], v[1])),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq",
            queue_url=dlq.url,
            redrive_allow_policy=queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        subscription = aws.sns.TopicSubscription(
            f"{name}-queue",
            topic=args.topic_arn,
            protocol="sqs",
            endpoint=queue.arn,
            raw_message_delivery=False,  # the envelope carries the MessageId duplicates are dropped by
            opts=child,
        )
        table = aws.dynamodb.Table(
            f"{name}-delivered",
            name=f"{prefix}-alerts-delivered",
            billing_mode="PAY_PER_REQUEST",
            hash_key="message_id",
            attributes=[{"name": "message_id", "type": "S"}],
            ttl={"attribute_name": "expires_at", "enabled": True},
            server_side_encryption={"enabled": True},
            tags=tags,
            opts=child,
        )

        function_name = f"{prefix}-alert-forwarder"
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=LOG_RETENTION_DAYS,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-forwarder",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-forwarder",
            role=role.id,
            policy=pulumi.Output.all(queue.arn, table.arn, logs.arn, args.account_id).apply(
                lambda v: forwarder_policy(
                    queue_arn=v[0],
                    table_arn=v[1],
                    log_group_arn=v[2],
                    secret_arn_pattern=f"arn:aws:secretsmanager:us-east-1:{v[3]}:secret:{args.slack_webhook_secret_name}-??????",
                    guard_tag=args.stack_tag if args.guard_enabled else None,
                )
            ),
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-forwarder",
            name=function_name,
            runtime="python3.12",
            handler=HANDLER,
            role=role.arn,
            timeout=FUNCTION_TIMEOUT_SECONDS,
            memory_size=128,
            code=pulumi.AssetArchive({k: pulumi.FileAsset(str(p)) for k, p in package_files().items()}),
            environment={
                "variables": {
                    "SLACK_WEBHOOK_SECRET_NAME": args.slack_webhook_secret_name,
                    "QUEUE_URL": queue.url,
                    "DEDUP_TABLE": table.name,
                    "FRUGAL_ALERT_CONTEXT": args.context_json,
                }
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs, policy]),
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-queue",
            event_source_arn=queue.arn,
            function_name=function.arn,
            batch_size=BATCH_SIZE,
            maximum_batching_window_in_seconds=BATCH_WINDOW_SECONDS,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": MAX_CONCURRENCY},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[subscription]),
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-dead-letters",
            alarm_description=(
                f"Alerts of {prefix} could not be delivered to Slack after {MAX_RECEIVES} attempts and wait in "
                f"{prefix}-alerts-dlq. Read them in the SQS console, fix the webhook or the forwarder "
                "(its CloudWatch logs say why), then redrive them to the source queue."
            ),
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dlq.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
            alarm_actions=[args.topic_arn],
            tags=tags,
            opts=child,
        )

        self.queue_arn = queue.arn
        self.dead_letter_queue_arn = dlq.arn
        self.function_name = function.name
        self.register_outputs(
            {"queue_arn": queue.arn, "dead_letter_queue_arn": dlq.arn, "function_name": function.name}
        )


def _queue_policy(queue_arn: str, topic_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AlertTopicSends",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


def forwarder_policy(
    *, queue_arn: str, table_arn: str, log_group_arn: str, secret_arn_pattern: str, guard_tag: tuple[str, str] | None
) -> str:
    """The forwarder's permissions: its queue, its table, its log group, its secret; the guard only if enabled."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "ConsumeAlertQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            "Resource": queue_arn,
        },
        {
            "Sid": "DeduplicateByMessageId",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn.removesuffix(':*')}:*",
        },
        {
            "Sid": "ReadWebhookSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arn_pattern,
        },
    ]
    if guard_tag is not None:
        key, value = guard_tag
        statements += [
            {
                # Describe* has no resource-level permissions in Auto Scaling.
                "Sid": "GuardReadsGroups",
                "Effect": "Allow",
                "Action": "autoscaling:DescribeAutoScalingGroups",
                "Resource": "*",
            },
            {
                "Sid": "GuardCapsThisStacksGroups",
                "Effect": "Allow",
                "Action": "autoscaling:UpdateAutoScalingGroup",
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{key}": value}},
            },
        ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
