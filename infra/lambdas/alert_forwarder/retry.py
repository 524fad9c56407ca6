"""When a failed alert is tried again, and how many times before it is dead-lettered.

The queue's redrive policy (`MAX_RECEIVES`), its retention and the dedup records' lifetime are all
derived from these numbers by the component, so the schedule and the infrastructure cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RECEIVES = 10
"""Receives before SQS moves a message to the dead-letter queue (the redrive policy's maxReceiveCount)."""
FUNCTION_TIMEOUT_SECONDS = 60
"""A batch of 10 at one post a second, each post bounded by the HTTP timeout, fits with room to spare."""
HTTP_TIMEOUT_SECONDS = 5
MIN_POST_INTERVAL_SECONDS = 1.0
"""Slack accepts about one message per second per channel (and answers 429 with Retry-After above it)."""
MAX_VISIBILITY_SECONDS = 43_200
"""SQS refuses a visibility timeout above 12 hours."""


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: int = 30
    cap_seconds: int = 3600

    def delay(self, receive_count: int) -> int:
        """Seconds until the next attempt after the `receive_count`-th failed one: doubling, capped."""
        exponent = min(max(receive_count, 1) - 1, 20)
        doubled: int = self.base_seconds << exponent
        return min(self.cap_seconds, doubled)

    def after(self, receive_count: int, retry_after: int | None) -> int:
        """The visibility timeout for a failed message: Slack's Retry-After when it sent one, else the back-off."""
        wait = retry_after if retry_after is not None else self.delay(receive_count)
        return max(0, min(MAX_VISIBILITY_SECONDS, wait))

    def total_seconds(self, receives: int = MAX_RECEIVES) -> int:
        """How long a message keeps being retried before it is dead-lettered (back-off only)."""
        return sum(self.delay(n) for n in range(1, receives))


DEFAULT_RETRY = RetryPolicy()
