"""One POST to the Slack incoming webhook, reduced to: delivered, or retry (after how long, and why)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .retry import HTTP_TIMEOUT_SECONDS


@dataclass(frozen=True)
class PostResult:
    delivered: bool
    status: int | None = None
    retry_after: int | None = None
    """Seconds Slack asked us to wait (429 Retry-After), if it did."""
    error: str | None = None


def _retry_after(headers: Any) -> int | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0, int(float(value))) if value is not None else None
    except ValueError:
        return None  # an HTTP-date form: fall back to our own back-off


def post(url: str, payload: dict[str, Any], timeout: float = HTTP_TIMEOUT_SECONDS) -> PostResult:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return PostResult(delivered=True, status=response.status)
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode(errors="replace")
        return PostResult(False, exc.code, _retry_after(exc.headers), f"HTTP {exc.code}: {detail}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return PostResult(False, None, None, f"{type(exc).__name__}: {exc}")
