"""The alert forwarder end to end against moto (SNS, SQS with a dead-letter queue, DynamoDB, Secrets
Manager, Auto Scaling) and a local HTTP server as the Slack webhook.

Messages reach the queue the way they do in AWS: published to the topic, delivered by SNS to the
subscribed queue in its envelope. A stand-in for Lambda's poller (tests/infra/alert_harness.py)
invokes the function with batches and deletes what it reports delivered. Back-off waits are set to
0 seconds in the retry tests so they run in seconds; Slack's Retry-After is honoured as sent.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.components.alert_delivery import package_files
from infra.lambdas.alert_forwarder import handler
from infra.lambdas.alert_forwarder.delivery import Pacer, process_batch
from infra.lambdas.alert_forwarder.retry import MAX_RECEIVES, RetryPolicy
from tests.infra.alert_harness import (
    REGION,
    SECRET,
    TABLE,
    Aws,
    Webhook,
    build_aws,
    context_json,
    poll,
    publish,
    queue_depth,
    sample,
    serve,
)


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def hook() -> Iterator[Webhook]:
    yield from serve(Webhook())


@pytest.fixture
def aws(hook: Webhook, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(handler, "_webhook_url", None)
    with mock_aws():
        env = build_aws(hook.url)
        monkeypatch.setenv("QUEUE_URL", env.queue_url)
        monkeypatch.setenv("DEDUP_TABLE", TABLE)
        monkeypatch.setenv("SLACK_WEBHOOK_SECRET_NAME", SECRET)
        monkeypatch.setenv("FRUGAL_ALERT_CONTEXT", context_json())
        yield env


def fast(event: dict[str, Any]) -> dict[str, Any]:
    """The real handler's wiring with the back-off at 0 s and no pacing, so retries happen at once."""
    deps = handler.build_deps(LambdaContext())
    deps = replace(deps, retry=RetryPolicy(base_seconds=0, cap_seconds=0), pacer=Pacer(interval=0.0))
    return process_batch(event["Records"], deps)


def real(event: dict[str, Any]) -> dict[str, Any]:
    return handler.handler(event, LambdaContext())


def texts(hook: Webhook) -> list[str]:
    return [m["text"] for m in hook.received]


class RecordingPacer(Pacer):
    """The real pacer, noting when it let each post go."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[float] = []

    def wait(self) -> None:
        super().wait()
        assert self.last is not None, "the pacer notes each release"
        self.released.append(self.last)


def test_each_alert_type_reaches_slack_through_the_secret_as_a_readable_message_with_the_stacks_costs(
    aws: Aws, hook: Webhook, monkeypatch: pytest.MonkeyPatch
):
    pacer = RecordingPacer()
    monkeypatch.setattr(handler, "_PACER", pacer)
    names = ["budget-actual.json", "budget-forecasted.json", "billing-alarm.json", "anomaly.json"]
    for name in names:
        publish(aws, sample(name))
    batches = poll(aws, real, until=lambda: len(hook.received) == len(names))
    assert len(hook.received) == len(names), f"every alert is posted once: {texts(hook)}"
    assert all(failed == 0 for _, failed in batches), f"nothing failed: {batches}"
    by_kind = {t.split(":")[0]: t for t in texts(hook)}
    actual, forecast = by_kind["Budget actual spend alert"], by_kind["Budget forecasted spend alert"]
    assert "has reached $331.87" in actual and "threshold $320.00" in actual and "limit is $400.00" in actual, (
        f"ACTUAL: which budget, the amount against threshold and limit: {actual}"
    )
    assert "is forecast to reach $512.40" in forecast and "128% of the limit" in forecast, (
        f"FORECASTED: the forecast against the limit: {forecast}"
    )
    alarm = by_kind["Billing alarm ALARM"]
    assert "$436.27" in alarm and "above $400.00" in alarm, f"billing alarm: amount and threshold: {alarm}"
    anomaly = next(t for t in texts(hook) if t.startswith("Cost anomaly"))
    assert "Amazon Elastic Compute Cloud - Compute" in anomaly and "$1,001.00" in anomaly, (
        f"anomaly: service and impact: {anomaly}"
    )
    root = next(
        b
        for m in hook.received
        if m["text"].startswith("Cost anomaly")
        for b in m["blocks"]
        if "Root cause" in b.get("text", {}).get("text", "")
    )
    assert "USE1-BoxUsage:g5.2xlarge" in root["text"]["text"] and "$601.00" in root["text"]["text"], (
        "anomaly root causes with their contribution"
    )
    for message in hook.received:
        text = message["text"]
        assert "frugal-llm-dev" in text and "environment dev" in text, f"names stack and environment: {text}"
        assert "$153.20" in text and "pool-small-asg $98.10" in text, f"carries the preview's cost figures: {text}"
        assert message["blocks"][0]["type"] == "header", "Slack blocks, with `text` as the plain-text fallback"
    # Measured where the pacing happens: arrival times at the server also carry request jitter.
    gaps = [b - a for a, b in zip(pacer.released, pacer.released[1:], strict=False)]
    assert len(pacer.released) == len(names) and min(gaps) >= 0.999, (
        f"one post a second per channel, across the container's batches too: gaps {gaps}"
    )
    assert queue_depth(aws, aws.queue_url) == 0 and queue_depth(aws, aws.dlq_url) == 0, "nothing left behind"


def test_a_500_and_a_429_with_retry_after_are_retried_and_delivered(aws: Aws, hook: Webhook):
    hook.script = [(500, {}), (429, {"Retry-After": "2"})]
    publish(aws, sample("budget-actual.json"))
    batches = poll(aws, fast, until=lambda: len(hook.received) == 1, timeout=20)
    statuses = [status for _, status, _ in hook.attempts]
    assert statuses == [500, 429, 200], f"tried after the 500, after the 429, then delivered: {statuses}"
    assert [failed for _, failed in batches] == [1, 1, 0], f"two partial failures, then success: {batches}"
    waited = hook.attempts[2][0] - hook.attempts[1][0]
    assert waited >= 1.9, f"Slack's Retry-After of 2 s is honoured (waited {waited:.2f} s)"
    assert queue_depth(aws, aws.queue_url) == 0 and queue_depth(aws, aws.dlq_url) == 0, "delivered, not dead-lettered"


def test_a_revoked_webhook_makes_the_next_attempt_read_the_replaced_secret(aws: Aws, hook: Webhook):
    hook.script = [(404, {})]  # Slack's answer once a webhook is removed
    publish(aws, sample("budget-actual.json"))
    poll(aws, fast, until=lambda: len(hook.attempts) == 1, timeout=10)
    new_url = hook.url.replace("/XXXX", "/YYYY")
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(SecretId=SECRET, SecretString=new_url)
    poll(aws, fast, until=lambda: len(hook.received) == 1, timeout=10)
    assert hook.paths == ["/services/T000/B000/XXXX", "/services/T000/B000/YYYY"], (
        f"the retry went to the webhook now in the secret, not the cached one: {hook.paths}"
    )


def test_a_permanently_failing_message_is_dead_lettered_after_the_configured_receives_and_the_rest_is_delivered(
    aws: Aws, hook: Webhook
):
    hook.fail_if = lambda body: body["text"].startswith("Cost anomaly")
    for name in ("budget-actual.json", "anomaly.json", "billing-alarm.json"):
        publish(aws, sample(name))
    batches = poll(aws, fast, until=lambda: queue_depth(aws, aws.dlq_url) == 1, timeout=30)
    assert batches[0] == (3, 1), f"one batch of three, only the anomaly failed: {batches}"
    assert len(hook.received) == 2 and not any(t.startswith("Cost anomaly") for t in texts(hook)), (
        "the other messages of the batch were delivered"
    )
    tries = [a for a in hook.attempts if a[2]["text"].startswith("Cost anomaly")]
    assert len(tries) == MAX_RECEIVES, f"posted once per receive, {MAX_RECEIVES} receives (got {len(tries)})"
    dead = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert len(dead) == 1 and "anomalyId" in dead[0]["Body"], "the anomaly waits in the dead-letter queue"
    assert queue_depth(aws, aws.queue_url) == 0, "nothing else is stuck in the source queue"


def test_a_duplicate_delivery_posts_once(aws: Aws, hook: Webhook):
    publish(aws, sample("budget-forecasted.json"))
    original = aws.sqs.receive_message(QueueUrl=aws.queue_url, VisibilityTimeout=0)["Messages"][0]["Body"]
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=original)  # SNS delivered it twice
    poll(aws, fast, until=lambda: queue_depth(aws, aws.queue_url) == 0, timeout=15)
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=original)  # and once more, later
    poll(aws, fast, until=lambda: queue_depth(aws, aws.queue_url) == 0, timeout=15)
    assert len(hook.received) == 1, f"three copies of one SNS message, one post: {texts(hook)}"
    assert queue_depth(aws, aws.dlq_url) == 0, "duplicates are dropped, not failed"


def test_alerts_are_still_delivered_when_the_dedup_table_is_unavailable(aws: Aws, hook: Webhook):
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=TABLE)
    publish(aws, sample("billing-alarm.json"))
    batches = poll(aws, fast, until=lambda: len(hook.received) == 1, timeout=15)
    assert batches == [(1, 0)], f"delivered on the first try, unchecked for duplicates: {batches}"
    assert queue_depth(aws, aws.dlq_url) == 0, "a dedup outage does not dead-letter alerts"


def _group(name: str, stack_tag: str, max_size: int = 4) -> None:
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_launch_configuration(
        LaunchConfigurationName=f"{name}-lc", ImageId="ami-12c6146b", InstanceType="g5.xlarge"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchConfigurationName=f"{name}-lc",
        MinSize=1,
        MaxSize=max_size,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "frugal-stack", "Value": stack_tag, "PropagateAtLaunch": True}],
    )


def _sizes(name: str) -> tuple[int, int, int]:
    group = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]
    return group["MinSize"], group["DesiredCapacity"], group["MaxSize"]


def test_the_guard_caps_the_stacks_gpu_groups_on_a_forecasted_breach_and_says_so(
    aws: Aws, hook: Webhook, monkeypatch: pytest.MonkeyPatch
):
    _group("pool-small-asg-dev", "frugal-llm-dev")
    _group("pool-other-asg", "frugal-llm-staging")  # listed by mistake: another stack's group
    monkeypatch.setenv(
        "FRUGAL_ALERT_CONTEXT", context_json(guard=True, asg_names=["pool-small-asg-dev", "pool-other-asg"])
    )
    publish(aws, sample("budget-actual.json"))
    poll(aws, fast, until=lambda: len(hook.received) == 1, timeout=15)
    assert _sizes("pool-small-asg-dev") == (1, 2, 4), "an ACTUAL alert does not trigger the guard"
    publish(aws, sample("budget-forecasted.json"))
    poll(aws, fast, until=lambda: len(hook.received) == 2, timeout=15)
    assert _sizes("pool-small-asg-dev") == (1, 1, 1), "max lowered to the cap (1); desired follows it"
    assert _sizes("pool-other-asg") == (1, 2, 4), "a group without this stack's tag is left alone"
    text = hook.received[1]["text"]
    assert "Guard action" in text and "pool-small-asg-dev: max 4 -> 1" in text, f"the message says so: {text}"
    assert "To undo: `pulumi up`" in text and "--max-size" in text, f"and how to undo it: {text}"


def test_the_guard_is_refused_for_a_prod_stack(aws: Aws, hook: Webhook, monkeypatch: pytest.MonkeyPatch):
    _group("pool-small-asg-prod", "frugal-llm-dev")
    monkeypatch.setenv(
        "FRUGAL_ALERT_CONTEXT", context_json(environment="prod", guard=True, asg_names=["pool-small-asg-prod"])
    )
    publish(aws, sample("budget-forecasted.json"))
    poll(aws, fast, until=lambda: len(hook.received) == 1, timeout=15)
    assert _sizes("pool-small-asg-prod") == (1, 2, 4), "nothing is capped on prod, even if the guard was enabled"
    assert "Guard not run: the guard never acts on a prod stack" in hook.received[0]["text"], (
        "the message says the guard refused"
    )


def test_the_lambda_package_imports_only_the_standard_library_boto3_and_itself(tmp_path: Path):
    files = package_files()
    assert "alert_forwarder/handler.py" in files and "alert_forwarder/messages/budget.py" in files, sorted(files)
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore"}
    for arcname, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{arcname} imports {roots - allowed}, which Lambda's runtime lacks"
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for arcname, path in files.items():
            z.write(path, arcname)
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import alert_forwarder.handler as h; print(h.__file__)",
            str(archive),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and "function.zip" in run.stdout, f"the handler imports from the zip alone: {run.stderr}"
