"""The queued alert path as the program declares it, under the recording fake engine.

prod ships with Slack configured (the guard off); a dev variant with Slack and the guard on shows
the guard's permissions. The forwarder's behaviour is in test_alert_forwarder.py.
"""

from __future__ import annotations

import json

import pytest

from infra.components.alert_delivery import VISIBILITY_TIMEOUT_SECONDS, package_files
from infra.config import ConfigError, parse
from infra.lambdas.alert_forwarder.retry import DEFAULT_RETRY, FUNCTION_TIMEOUT_SECONDS, MAX_RECEIVES
from infra.offline import run_offline
from infra.plan import Plan, PlannedResource
from tests.fakes import as_engine_config, stack_values

ACCOUNT = "123456789012"


def one(plan: Plan, type_token: str, name: str) -> PlannedResource:
    matches = [r for r in plan.of_type(type_token) if r.name == name]
    assert len(matches) == 1, f"exactly one {type_token} named {name} in {plan.stack}"
    return matches[0]


def arn(service: str, name: str) -> str:
    return f"arn:aws:{service}:us-east-1:{ACCOUNT}:{name}"


@pytest.fixture(scope="module")
def guarded_dev() -> Plan:
    values = stack_values("dev")
    values["budget"]["slack_webhook_secret_name"] = "frugal/dev/slack-webhook-url"
    values["budget"]["guard"] = {"enabled": True, "gpu_max_size": 0}
    return run_offline("dev", config=as_engine_config(values))


def test_the_alert_topic_feeds_an_encrypted_queue_only_it_may_send_to(prod_plan: Plan):
    topic_arn = arn("sns", "budget-alerts-offline")
    queue = one(prod_plan, "aws:sqs/queue:Queue", "budget-delivery-queue").inputs
    assert queue["sqsManagedSseEnabled"] is True, "the queue is encrypted at rest (SSE-SQS)"
    sub = one(prod_plan, "aws:sns/topicSubscription:TopicSubscription", "budget-delivery-queue").inputs
    assert (sub["protocol"], sub["topic"], sub["endpoint"]) == (
        "sqs",
        topic_arn,
        arn("sqs", "frugal-llm-prod-alerts"),
    ), "the alert topic delivers to the queue"
    assert sub["rawMessageDelivery"] is False, "the SNS envelope (with its MessageId, the dedup key) is kept"
    policy = json.loads(one(prod_plan, "aws:sqs/queuePolicy:QueuePolicy", "budget-delivery-queue").inputs["policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage", (
        "SNS may send"
    )
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}, "and only from the alert topic"


def test_failed_messages_are_redriven_to_a_dead_letter_queue_after_the_configured_receives(prod_plan: Plan):
    queue = one(prod_plan, "aws:sqs/queue:Queue", "budget-delivery-queue").inputs
    dlq = one(prod_plan, "aws:sqs/queue:Queue", "budget-delivery-dlq").inputs
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": arn("sqs", "frugal-llm-prod-alerts-dlq"),
        "maxReceiveCount": MAX_RECEIVES,
    }, "after MAX_RECEIVES receives a message moves to the dead-letter queue"
    assert dlq["sqsManagedSseEnabled"] is True and dlq["messageRetentionSeconds"] == 14 * 86_400, (
        "dead letters are encrypted and kept the longest SQS allows"
    )
    assert queue["messageRetentionSeconds"] > DEFAULT_RETRY.total_seconds(MAX_RECEIVES), (
        "the queue keeps a message longer than its whole retry schedule"
    )
    assert queue["visibilityTimeoutSeconds"] == VISIBILITY_TIMEOUT_SECONDS == 6 * FUNCTION_TIMEOUT_SECONDS, (
        "AWS's rule: visibility timeout at least six times the function timeout"
    )
    allow = json.loads(
        one(prod_plan, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", "budget-delivery-dlq").inputs[
            "redriveAllowPolicy"
        ]
    )
    assert allow["sourceQueueArns"] == [arn("sqs", "frugal-llm-prod-alerts")], "only the alert queue dead-letters here"


def test_the_forwarder_consumes_batches_and_reports_partial_failures(prod_plan: Plan):
    mapping = one(prod_plan, "aws:lambda/eventSourceMapping:EventSourceMapping", "budget-delivery-queue").inputs
    assert mapping["eventSourceArn"] == arn("sqs", "frugal-llm-prod-alerts"), "the mapping reads the alert queue"
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"], "only failed messages are retried"
    assert (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"]) == (10, 5), "batches of 10 within 5 s"
    assert mapping["scalingConfig"] == {"maximumConcurrency": 2}, "few concurrent posters keep Slack's rate"
    fn = one(prod_plan, "aws:lambda/function:Function", "budget-delivery-forwarder").inputs
    assert fn["handler"] == "alert_forwarder.handler.handler" and fn["runtime"].startswith("python3"), "the handler"
    assert fn["timeout"] == FUNCTION_TIMEOUT_SECONDS, "the timeout the queue's visibility is sized from"
    assert sorted(fn["code"]["archive"]) == sorted(package_files()), "the zip holds every module of the package"
    env = fn["environment"]["variables"]
    assert env["SLACK_WEBHOOK_SECRET_NAME"] == "frugal/prod/slack-webhook-url", "the secret's name, never the URL"
    assert (
        env["QUEUE_URL"].endswith("/frugal-llm-prod-alerts")
        and env["DEDUP_TABLE"] == "frugal-llm-prod-alerts-delivered"
    )
    context = json.loads(env["FRUGAL_ALERT_CONTEXT"])
    assert (context["stack"], context["environment"], context["budget_limit_usd"]) == ("prod", "prod", "6000"), context
    assert context["cost"]["expected_monthly_cost_usd"] is not None, "the preview's expected cost reaches the messages"
    assert context["cost"]["top_items"][0]["name"] == "pool-small-asg", "biggest cost items, largest first"
    assert context["guard"]["enabled"] is False, "prod never enables the guard"
    table = one(prod_plan, "aws:dynamodb/table:Table", "budget-delivery-delivered").inputs
    assert table["hashKey"] == "message_id" and table["billingMode"] == "PAY_PER_REQUEST", "on-demand, keyed by id"
    assert table["ttl"] == {"attributeName": "expires_at", "enabled": True}, "dedup records expire"


def test_the_dead_letter_alarm_reaches_the_email_subscribers_without_the_forwarder(prod_plan: Plan):
    alarm = one(prod_plan, "aws:cloudwatch/metricAlarm:MetricAlarm", "budget-delivery-dead-letters").inputs
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), "DLQ depth"
    assert alarm["dimensions"] == {"QueueName": "frugal-llm-prod-alerts-dlq"}, "of the dead-letter queue"
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0), "any dead letter alarms"
    topic_arn = arn("sns", "budget-alerts-offline")
    assert alarm["alarmActions"] == [topic_arn], "it notifies the alert topic"
    emails = [
        s.inputs["endpoint"]
        for s in prod_plan.of_type("aws:sns/topicSubscription:TopicSubscription")
        if s.inputs["protocol"] == "email" and s.inputs["topic"] == topic_arn
    ]
    assert sorted(emails) == ["finops@example.com", "ml-platform@example.com"], (
        "whose e-mail subscriptions deliver directly, not through the queue or the function"
    )


def _statements(plan: Plan) -> list[dict]:
    return json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "budget-delivery-forwarder").inputs["policy"])[
        "Statement"
    ]


def test_the_forwarder_role_may_touch_only_its_queue_table_logs_and_secret(prod_plan: Plan):
    role = one(prod_plan, "aws:iam/role:Role", "budget-delivery-forwarder").inputs
    trust = json.loads(role["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}], "only Lambda assumes it"
    grants = {s["Sid"]: (s["Action"], s["Resource"]) for s in _statements(prod_plan)}
    assert grants == {
        "ConsumeAlertQueue": (
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            arn("sqs", "frugal-llm-prod-alerts"),
        ),
        "DeduplicateByMessageId": (
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            arn("dynamodb", "frugal-llm-prod-alerts-delivered"),
        ),
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            arn("cloudwatch", "/aws/lambda/frugal-llm-prod-alert-forwarder") + ":*",
        ),
        "ReadWebhookSecret": (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:frugal/prod/slack-webhook-url-??????",
        ),
    }, "named actions on this stack's own resources, nothing else (no Auto Scaling with the guard off)"
    attached = [
        a for a in prod_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "delivery" in a.name
    ]
    assert attached == [], "no managed policies (AWSLambdaBasicExecutionRole would allow creating any log group)"


def test_the_guard_may_resize_only_groups_tagged_with_this_stack(guarded_dev: Plan):
    grants = {s["Sid"]: s for s in _statements(guarded_dev)}
    update = grants["GuardCapsThisStacksGroups"]
    assert update["Action"] == "autoscaling:UpdateAutoScalingGroup", "one action"
    assert update["Condition"] == {"StringEquals": {"aws:ResourceTag/frugal-stack": "frugal-llm-dev"}}, (
        "scoped by the stack tag every GPU group carries"
    )
    assert grants["GuardReadsGroups"]["Action"] == "autoscaling:DescribeAutoScalingGroups", "and reading them"
    fn = one(guarded_dev, "aws:lambda/function:Function", "budget-delivery-forwarder").inputs
    guard = json.loads(fn["environment"]["variables"]["FRUGAL_ALERT_CONTEXT"])["guard"]
    assert guard == {
        "asg_names": ["pool-small-asg-offline"],
        "enabled": True,
        "max_size": 0,
        "region": "us-east-1",
        "tag_key": "frugal-stack",
        "tag_value": "frugal-llm-dev",
    }, "the forwarder knows the stack's GPU groups, the cap and where they live"


def test_every_alert_delivery_resource_uses_the_us_east_1_provider(prod_plan: Plan):
    provider = next(r for r in prod_plan.resources if r.type == "pulumi:providers:aws" and r.name == "budget-us-east-1")
    delivery = [r for r in prod_plan.resources if r.name.startswith("budget-delivery") and r.custom]
    assert len(delivery) >= 10, f"the path's resources: {[r.name for r in delivery]}"
    assert all(r.provider == provider.urn for r in delivery), "with the billing alarm and the topic, in us-east-1"


def test_without_a_slack_secret_there_is_no_queue_and_no_function(dev_plan: Plan):
    delivery_queues = [r for r in dev_plan.of_type("aws:sqs/queue:Queue") if r.name.startswith("budget-")]
    assert not delivery_queues, "dev has no Slack webhook, so no delivery queue (the interruption queue is not one)"
    assert not dev_plan.of_type("aws:lambda/function:Function"), "and no forwarder"


def test_config_refuses_the_guard_in_prod_and_without_slack():
    values = stack_values("prod")
    values["budget"]["guard"] = {"enabled": True}
    with pytest.raises(ConfigError) as err:
        parse("prod", values)
    assert "budget.guard.enabled: true on a prod stack" in str(err.value) and "fix:" in str(err.value), str(err.value)
    values = stack_values("dev")
    values["budget"]["guard"] = {"enabled": True}
    with pytest.raises(ConfigError) as err:
        parse("dev", values)
    assert "without slack_webhook_secret_name" in str(err.value), str(err.value)
