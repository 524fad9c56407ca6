"""One SQS batch: every message is delivered once, or handed back to the queue to be tried later.

For each SQS record (its body is the SNS envelope): skip it if its SNS MessageId was already
delivered; format it; on a FORECASTED budget breach run the guard if the stack enabled it; post it
to Slack at most once a second; on failure release the dedup claim, set the message's visibility
timeout to Slack's Retry-After or the back-off for its receive count, and report it in
`batchItemFailures`, so Lambda deletes only the delivered messages. After a 429 the rest of the
batch is deferred without posting: Slack asked us to wait.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .context import StackContext
from .dedup import Claim, Deduplicator
from .guard import GuardRefused, apply_guard
from .messages import parse_notification
from .messages.slack import render
from .retry import DEFAULT_RETRY, MIN_POST_INTERVAL_SECONDS, RetryPolicy
from .webhook import PostResult, post

log = logging.getLogger("alert_forwarder")


class Pacer:
    """Keeps posts at least `interval` seconds apart (Slack's per-channel rate)."""

    def __init__(
        self,
        interval: float = MIN_POST_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self.last: float | None = None

    def wait(self) -> None:
        if self.last is not None:
            remaining = self.last + self.interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self.last = self.clock()


@dataclass
class Deps:
    sqs: Any
    queue_url: str
    webhook_url: Callable[[], str]
    dedup: Deduplicator
    context: StackContext
    autoscaling: Callable[[], Any] | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    pacer: Pacer = field(default_factory=Pacer)
    post: Callable[[str, dict[str, Any]], PostResult] = post
    remaining_ms: Callable[[], int] = lambda: 60_000
    forget_webhook: Callable[[], None] = lambda: None
    """Drop a cached webhook URL, so the next attempt reads the secret again."""


# Slack's answers for a webhook that no longer exists or was revoked: the secret may have been
# replaced since this container cached it.
REVOKED = {403, 404, 410}
SAFETY_MS = 8_000
"""Stop posting when less than this is left of the invocation: one more post could outlive it."""


def _envelope(record: dict[str, Any]) -> tuple[str, str, str]:
    """(dedup id, subject, message) of an SQS record whose body is an SNS envelope (raw text otherwise)."""
    body = record.get("body", "")
    try:
        env = json.loads(body)
    except ValueError:
        env = None
    if isinstance(env, dict) and env.get("Type") == "Notification" and "Message" in env:
        return str(env.get("MessageId") or record["messageId"]), str(env.get("Subject") or ""), str(env["Message"])
    return str(record["messageId"]), "", body


def _guard_note(deps: Deps, forecasted: bool) -> str | None:
    ctx = deps.context
    if not (forecasted and ctx.guard.enabled) or deps.autoscaling is None:
        return None
    try:
        return apply_guard(deps.autoscaling(), ctx).note
    except GuardRefused as exc:
        return f"Guard not run: {exc}."
    except Exception as exc:  # the alert still goes out; its text says the guard failed
        log.exception("guard action failed")
        return f"Guard action FAILED ({type(exc).__name__}: {exc}); nothing may have been capped."


def _defer(deps: Deps, record: dict[str, Any], retry_after: int | None) -> int:
    receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    timeout = deps.retry.after(receives, retry_after)
    try:
        deps.sqs.change_message_visibility(
            QueueUrl=deps.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=timeout
        )
    except Exception:  # the queue's own visibility timeout still brings it back
        log.exception("could not set the visibility timeout of %s", record.get("messageId"))
    return timeout


def _record(step: Callable[[str], None], dedup_id: str) -> None:
    try:
        step(dedup_id)
    except Exception:  # the claim's lease runs out and a retry can take it over
        log.exception("could not update the dedup record of %s", dedup_id)


def process_batch(records: list[dict[str, Any]], deps: Deps) -> dict[str, list[dict[str, str]]]:
    failures: list[dict[str, str]] = []
    blocked_for: int | None = None  # Slack's Retry-After, once it sent one
    url: str | None = None
    for record in records:
        sqs_id = record["messageId"]
        if blocked_for is not None or deps.remaining_ms() < SAFETY_MS:
            _defer(deps, record, blocked_for)
            failures.append({"itemIdentifier": sqs_id})
            continue
        dedup_id, subject, message = _envelope(record)
        claim: Claim | Literal["unchecked"]
        try:
            claim = deps.dedup.claim(dedup_id)
        except Exception:  # a possible duplicate is better than a lost alert
            log.exception("dedup unavailable; delivering %s unchecked", sqs_id)
            claim = "unchecked"
        if claim == "duplicate":
            log.info("dropping duplicate %s (SNS message %s)", sqs_id, dedup_id)
            continue
        if claim == "in-progress":
            _defer(deps, record, None)
            failures.append({"itemIdentifier": sqs_id})
            continue
        alert = parse_notification(subject, message)
        payload = render(alert, deps.context, _guard_note(deps, alert.forecasted_breach))
        try:
            url = url or deps.webhook_url()
            deps.pacer.wait()
            result = deps.post(url, payload)
        except Exception as exc:  # e.g. the secret cannot be read: retry later like any failed post
            result = PostResult(False, error=f"{type(exc).__name__}: {exc}")
        if result.delivered:
            if claim == "claimed":
                _record(deps.dedup.sent, dedup_id)
            log.info("delivered %s (%s)", sqs_id, alert.kind)
            continue
        if claim == "claimed":
            _record(deps.dedup.release, dedup_id)
        if result.status in REVOKED:
            deps.forget_webhook()
            url = None
        if result.status == 429:
            blocked_for = result.retry_after if result.retry_after is not None else deps.retry.delay(1)
        waited = _defer(deps, record, result.retry_after if result.status == 429 else None)
        log.warning("not delivered %s: %s; retry in %ss", sqs_id, result.error, waited)
        failures.append({"itemIdentifier": sqs_id})
    return {"batchItemFailures": failures}
