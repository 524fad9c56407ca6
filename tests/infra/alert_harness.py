"""What the forwarder tests share: a scriptable local webhook, moto's AWS, and a stand-in for Lambda's SQS poller.

The poller does what Lambda's event source mapping does with a batch: receive up to 10 messages
(with their receive counts), invoke the function, delete every message not listed in
`batchItemFailures`. Redrive to the dead-letter queue is SQS's own (moto's).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from infra.alert_context import alert_context
from infra.config import parse
from infra.lambdas.alert_forwarder.retry import MAX_RECEIVES
from tests.fakes import stack_values

SAMPLES = Path(__file__).parent / "data" / "alerts"
REGION = "us-east-1"
SECRET = "frugal/dev/slack-webhook-url"
TABLE = "frugal-llm-dev-alerts-delivered"


def sample(name: str) -> dict[str, Any]:
    """An SNS envelope from tests/infra/data/alerts."""
    return json.loads((SAMPLES / name).read_text())


@dataclass
class Webhook:
    """A local HTTP server standing in for Slack: answers from `script` in order, then 200."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    fail_if: Callable[[dict[str, Any]], bool] | None = None
    """Answer 500 to every post this returns True for (a message Slack will never take)."""
    attempts: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    """(monotonic time, status answered, body) of every post."""
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any], path: str = "") -> tuple[int, dict[str, str]]:
        with self.lock:
            self.paths.append(path)
            if self.fail_if is not None and self.fail_if(body):
                status, headers = 500, {}
            else:
                status, headers = self.script.pop(0) if self.script else (200, {})
            self.attempts.append((time.monotonic(), status, body))
            if status == 200:
                self.received.append(body)
            return status, headers


def serve(hook: Webhook) -> Iterator[Webhook]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, headers = hook.answer(body, self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"rate_limited" if status == 429 else b"error")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Aws:
    """The alert topic subscribed by a queue with a dead-letter queue, the dedup table and the secret, in moto."""

    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str


def build_aws(webhook_url: str, max_receives: int = MAX_RECEIVES) -> Aws:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    ddb, secrets = boto3.client("dynamodb", region_name=REGION), boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SECRET, SecretString=webhook_url)
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
    )
    dlq_url = sqs.create_queue(QueueName="frugal-llm-dev-alerts-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="frugal-llm-dev-alerts",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
            "VisibilityTimeout": "360",
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name="budget-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Aws(sns, sqs, topic_arn, queue_url, queue_arn, dlq_url)


def context_json(environment: str = "dev", guard: bool = False, asg_names: list[str] | None = None) -> str:
    values = stack_values("dev")
    values["budget"]["slack_webhook_secret_name"] = SECRET
    values["budget"]["guard"] = {"enabled": guard, "gpu_max_size": 1}
    cfg = parse("dev", values)
    summary = json.dumps(
        {
            "expected_monthly_cost_usd": "153.20",
            "top_items": [
                {"name": "pool-small-asg", "monthly_usd": "98.10"},
                {"name": "cluster-eks", "monthly_usd": "73.00"},
            ],
        }
    )
    return alert_context(
        stack="dev",
        environment=environment,
        region=REGION,
        budget=cfg.budget,
        cost_summary_json=summary,
        gpu_asg_names=asg_names or [],
        stack_tag=("frugal-stack", "frugal-llm-dev"),
    )


def publish(aws: Aws, envelope: dict[str, Any]) -> str:
    kwargs = {"TopicArn": aws.topic_arn, "Message": envelope["Message"]}
    if envelope.get("Subject"):
        kwargs["Subject"] = envelope["Subject"]
    return str(aws.sns.publish(**kwargs)["MessageId"])


def as_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def poll(
    aws: Aws, invoke: Callable[[dict[str, Any]], dict[str, Any]], *, until: Callable[[], bool], timeout: float = 30
) -> list[tuple[int, int]]:
    """Lambda's poller: batches until `until()` holds or `timeout` passes; (batch size, failures) per invocation."""
    batches: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until():
        got = aws.sqs.receive_message(
            QueueUrl=aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            time.sleep(0.1)
            continue
        result = invoke({"Records": [as_record(m, aws.queue_arn) for m in got]})
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        batches.append((len(got), len(failed)))
        for m in got:
            if m["MessageId"] not in failed:
                aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])
    return batches


def queue_depth(aws: Aws, url: str) -> int:
    attrs = aws.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
