"""Every error a client sees, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Hierarchy (HTTP status in brackets):

    FrugalError
    ├── InvalidRequest [400]        invalid JSON, wrong field types, bad values
    │   └── UnknownModel [404]      `model` is not a tier, alias or `auto`
    ├── AuthenticationError [401]   missing or unknown API key
    ├── PermissionDenied [403]      the tenant may not use the tier
    ├── BodyTooLarge [413]          body over limits.max_body_bytes
    ├── BudgetExceeded [429]        the tenant's daily or monthly budget cannot cover the request
    ├── Overloaded [429]            every suitable tier is at its slot limit or its circuit is open
    ├── LedgerUnavailable [503]     the budget ledger did not answer in time (fail closed)
    └── UpstreamFailure             raised only by runtime/upstream.py, the one place that translates
        ├── UpstreamError [502]         connection refused/reset, 5xx, malformed answer
        ├── UpstreamUnavailable [503]   no tier is ready (still loading, all circuits open)
        ├── UpstreamTimeout [504]       connect/read timeout, stalled stream
        └── UpstreamRejected [4xx]      the upstream's own 4xx (e.g. context too long), passed through

`error_body` is the one function that renders them; the app installs it as the only exception
handler, so routes raise and never build error responses themselves.
"""

from __future__ import annotations

from typing import Any

import orjson


class FrugalError(Exception):
    status = 500
    type = "server_error"
    code: str | None = "internal_error"
    retry_after_s: float | None = None
    """For a 429 or 503: when to come back (the `Retry-After` header); None lets the app choose."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(FrugalError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class UnknownModel(InvalidRequest):
    status = 404
    code = "model_not_found"


class AuthenticationError(FrugalError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(FrugalError):
    status = 403
    type = "permission_error"
    code = "tier_not_allowed"


class BodyTooLarge(FrugalError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class BudgetExceeded(FrugalError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class Overloaded(FrugalError):
    status = 429
    type = "rate_limit_error"
    code = "overloaded"


class LedgerUnavailable(FrugalError):
    """The budget ledger did not answer in time: refused rather than risk an overspend."""

    status = 503
    type = "server_error"
    code = "budget_ledger_unavailable"


class UpstreamFailure(FrugalError):
    status = 502
    type = "server_error"
    code = "upstream_error"
    retryable = True
    """True when another tier may succeed (fallback); False for the upstream's own 4xx."""


class UpstreamError(UpstreamFailure):
    pass


class UpstreamUnavailable(UpstreamFailure):
    status = 503
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamFailure):
    status = 504
    code = "upstream_timeout"


class UpstreamRejected(UpstreamFailure):
    type = "invalid_request_error"
    code = "upstream_rejected"
    retryable = False

    def __init__(self, message: str, status: int, upstream_body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.upstream_body = upstream_body

    def body(self) -> dict[str, Any]:
        err = (self.upstream_body or {}).get("error")
        if not isinstance(err, dict) or "message" not in err:
            return super().body()
        return {"error": openai_error(err, self.type, self.code)}


def openai_error(err: dict[str, Any], default_type: str, default_code: str | None) -> dict[str, Any]:
    """An upstream's error object in OpenAI's shape: its message and a string param kept, its `type`
    kept only if it is one of OpenAI's (llama-server has its own), `code` a string or null (never
    llama-server's integer status); an over-long prompt is `context_length_exceeded`."""
    message = str(err.get("message", ""))
    kind = str(err.get("type") or "")
    code = err.get("code") if isinstance(err.get("code"), str) else default_code
    if kind == "exceed_context_size_error" or any(m in message for m in CONTEXT_MARKERS):
        code = "context_length_exceeded"
    param = err.get("param")
    return {
        "message": message,
        "type": kind if kind in OPENAI_ERROR_TYPES else default_type,
        "param": param if isinstance(param, str) else None,
        "code": code,
    }


OPENAI_ERROR_TYPES = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "rate_limit_error", "insufficient_quota"}
)
"""Error types OpenAI's API uses for a client's error, kept when an upstream sends them; any other
(llama-server's `exceed_context_size_error`, `not_supported_error`...) becomes invalid_request_error."""
CONTEXT_MARKERS = ("exceeds the available context size", "maximum context length")
"""How llama-server and OpenAI word a prompt too long for the model: code context_length_exceeded."""


_STATUS_CLASSES: dict[int, type[FrugalError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    413: BodyTooLarge,
    429: Overloaded,
}


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_for_status(status: int, message: str) -> FrugalError:
    """The FrugalError for a framework-level HTTP error (404 route, 405 method...)."""
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls(message)
    err = FrugalError(message, code=_STATUS_CODES.get(status, f"http_{status}"))
    err.status = status
    err.type = "invalid_request_error" if status < 500 else "server_error"
    return err


RETRY_STATUSES = frozenset({429, 503})
"""Every answer with one of these statuses carries `Retry-After` (runtime/app.py sets it)."""


def error_body(exc: FrugalError) -> bytes:
    return orjson.dumps(exc.body())


def sse_error_event(exc: FrugalError) -> bytes:
    """How a failure after the first streamed byte reaches the client (the status line is gone)."""
    return b"data: " + error_body(exc) + b"\n\n"
