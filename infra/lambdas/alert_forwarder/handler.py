"""Lambda entry point (`alert_forwarder.handler.handler`): an SQS batch in, partial batch failures out.

Environment: SLACK_WEBHOOK_SECRET_NAME (a Secrets Manager secret holding the webhook URL, read once
per container), QUEUE_URL, DEDUP_TABLE, FRUGAL_ALERT_CONTEXT (see context.py).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .context import ENV_VAR, parse_context
from .dedup import Deduplicator
from .delivery import Deps, Pacer, process_batch
from .retry import DEFAULT_RETRY, FUNCTION_TIMEOUT_SECONDS, MAX_RECEIVES

DEDUP_LEASE_SECONDS = FUNCTION_TIMEOUT_SECONDS * 2
DEDUP_TTL_SECONDS = DEFAULT_RETRY.total_seconds(MAX_RECEIVES) + 2 * 86_400

_webhook_url: str | None = None
# One container runs one batch at a time; pacing across its invocations keeps Slack's rate between batches too.
_PACER = Pacer()


def _client(service: str, region: str | None = None) -> Any:
    import boto3  # the Lambda runtime ships it

    return boto3.client(service, region_name=region) if region else boto3.client(service)


def _webhook() -> str:
    global _webhook_url  # a per-container cache is the point: one secret read per cold start
    if _webhook_url is None:
        secret = _client("secretsmanager").get_secret_value(SecretId=os.environ["SLACK_WEBHOOK_SECRET_NAME"])
        _webhook_url = secret["SecretString"].strip()
    return _webhook_url


def _forget_webhook() -> None:
    global _webhook_url
    _webhook_url = None


def build_deps(context: Any = None) -> Deps:
    ctx = parse_context(os.environ.get(ENV_VAR))
    return Deps(
        sqs=_client("sqs"),
        queue_url=os.environ["QUEUE_URL"],
        webhook_url=_webhook,
        dedup=Deduplicator(
            _client("dynamodb"),
            os.environ["DEDUP_TABLE"],
            lease_seconds=DEDUP_LEASE_SECONDS,
            ttl_seconds=DEDUP_TTL_SECONDS,
        ),
        context=ctx,
        # The groups live in the stack's region, the forwarder in us-east-1 (where the billing metric is).
        autoscaling=lambda: _client("autoscaling", ctx.guard.region),
        pacer=_PACER,
        forget_webhook=_forget_webhook,
        remaining_ms=context.get_remaining_time_in_millis if context is not None else (lambda: 60_000),
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    logging.getLogger().setLevel(logging.INFO)  # Lambda's root logger defaults to WARNING
    return process_batch(event.get("Records", []), build_deps(context))
