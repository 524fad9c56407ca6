"""Continuing a chat stream on another replica after the first one failed mid-answer.

The follow-up request (`continuation_request`) is the original upstream request with the text
already relayed to the client appended as a final assistant message, and `max_tokens` reduced by
the tokens already produced. llama-server treats a trailing assistant message as a prefill: its
chat template renders it without the end-of-turn marker and generation continues the text
(verified on llama-server with Gemma 3 270M, tests/runtime/balancer/test_continuation_real.py).
A streamed answer then starts with the prefill echoed back, merged with the first new token, in
one delta (`"1, 2, 3,"` comes back as `"1, 2, 3, 4"`); the stitcher cuts that echo off, and passes
the first content delta through unchanged when an upstream does not echo.

`Stitcher` rewrites each upstream SSE event for the client so that the attempts read as one stream:
every chunk carries the first attempt's id, created and model; a later attempt's role chunk and
echo are dropped; usage chunks are held back and summed into one at the end (only if the client
asked for usage); `[DONE]` is sent once. `continued_stream` drives it: it relays the first
attempt, and on a retryable failure opens the continuation through a caller-supplied `reopen`
(another replica, or the fallback tier) until the answer ends or the attempts run out.

Not continued: answers that have streamed tool calls (a half-emitted call cannot be prefilled) and
requests with n > 1. Those fail as before.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from runtime.errors import UpstreamError, UpstreamFailure

DONE = b"data: [DONE]"

Reopen = Callable[[dict[str, Any]], Awaitable[AsyncIterator[bytes]]]
"""Opens a streaming call with the given request body; returns its SSE events (without the blank
line, `data: [DONE]` last), raising UpstreamFailure if it cannot."""


def _max_tokens_key(payload: dict[str, Any]) -> str | None:
    for key in ("max_completion_tokens", "max_tokens"):
        if isinstance(payload.get(key), int):
            return key
    return None


def continuation_request(payload: dict[str, Any], relayed_text: str, produced_tokens: int) -> dict[str, Any] | None:
    """The request that continues `payload`'s answer after `relayed_text` (the upstream body as sent).

    Returns None when the answer already used its whole `max_tokens`: there is nothing left to ask
    for, and the stream should end with finish_reason "length".
    """
    body = dict(payload)
    key = _max_tokens_key(payload)
    if key is not None:
        remaining = int(payload[key]) - produced_tokens
        if remaining <= 0:
            return None
        body[key] = remaining
    if relayed_text:
        messages = list(payload["messages"])
        last = messages[-1] if messages else None
        if isinstance(last, dict) and last.get("role") == "assistant" and isinstance(last.get("content"), str):
            # The client prefilled the answer itself; an echoing upstream already relayed that prefill.
            prefill = last["content"]
            text = relayed_text if relayed_text.startswith(prefill) else prefill + relayed_text
            messages[-1] = {**last, "content": text}
        else:
            messages.append({"role": "assistant", "content": relayed_text})
        body["messages"] = messages
    body["stream"] = True
    body["stream_options"] = {**(payload.get("stream_options") or {}), "include_usage": True}
    return body


def prefill_of(body: dict[str, Any]) -> str:
    """The assistant text a continuation request asks the upstream to continue ("" for none)."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "assistant" and isinstance(last.get("content"), str):
        return str(last["content"])
    return ""


@dataclass
class Attempt:
    """What one upstream call produced: content chunks relayed, and its usage if it reported any."""

    chunks: int = 0
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens) as the upstream reported them."""

    @property
    def completion_tokens(self) -> int:
        # llama-server streams one token per content chunk, so a cut call's count is its chunks.
        return self.usage[1] if self.usage is not None else self.chunks


@dataclass
class Stitcher:
    """Turns the events of one or more upstream attempts into one client stream (see the module docstring)."""

    include_usage: bool
    text: str = ""
    """Content relayed to the client so far."""
    attempts: list[Attempt] = field(default_factory=lambda: [Attempt()])
    continuable: bool = True
    finished: bool = False
    """A chunk with a finish_reason was relayed."""
    _ident: dict[str, Any] | None = None
    _skip: str = ""
    _role_sent: bool = False

    @property
    def ident(self) -> dict[str, Any]:
        """The first attempt's id, created and model (what every chunk the client gets carries)."""
        return dict(self._ident or {})

    @property
    def continued(self) -> int:
        return len(self.attempts) - 1

    @property
    def produced_tokens(self) -> int:
        return sum(a.completion_tokens for a in self.attempts)

    def begin(self, prefill: str) -> None:
        """A new attempt starts, asked to continue `prefill`."""
        self.attempts.append(Attempt())
        self._skip = prefill

    def feed(self, event: bytes) -> bytes | None:
        """The client's version of one upstream event (without the blank line), or None to drop it."""
        if not event.startswith(b"data: ") or event == DONE:
            return None if event == DONE else event
        chunk = orjson.loads(event[6:])
        if not isinstance(chunk, dict):
            return event
        attempt = self.attempts[-1]
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            attempt.usage = (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        if self._ident is None:
            self._ident = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
        else:
            chunk.update(self._ident)
        choices = chunk.get("choices") or []
        if not choices:
            return None  # a usage-only chunk: summed into the one sent at the end
        choice = choices[0]
        delta = choice.get("delta") or {}
        if len(choices) > 1 or delta.get("tool_calls"):
            self.continuable = False
        if "role" in delta:
            if self._role_sent:
                delta.pop("role")
            self._role_sent = True
        content = delta.get("content")
        if isinstance(content, str) and content:
            attempt.chunks += 1
            content = self._strip_echo(content)
            if content:
                delta["content"] = content
                self.text += content
            else:
                delta.pop("content", None)
        if choice.get("finish_reason") is not None:
            self.finished = True
            if self.continued:
                chunk["frugal"] = {"continued": self.continued}
        elif not any(v not in (None, "") for v in delta.values()) and self.continued:
            return None  # nothing left of a continuation's role chunk or echo
        return b"data: " + orjson.dumps(chunk)

    def _strip_echo(self, content: str) -> str:
        if not self._skip:
            return content
        if content.startswith(self._skip):
            content, self._skip = content[len(self._skip) :], ""
        elif self._skip.startswith(content):
            content, self._skip = "", self._skip[len(content) :]
        else:
            self._skip = ""  # this upstream does not echo its prefill
        return content

    def usage(self) -> dict[str, int]:
        """Usage over every attempt. A cut attempt reported none: its completion is its chunk count, and
        its prompt is estimated as the next attempt's prompt minus the text it had produced."""
        prompt = completion = 0
        for i, a in enumerate(self.attempts):
            completion += a.completion_tokens
            if a.usage is not None:
                prompt += a.usage[0]
                continue
            later = next((b.usage for b in self.attempts[i + 1 :] if b.usage is not None), None)
            if later is not None:
                prompt += max(0, later[0] - self.produced_before(i + 1))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def produced_before(self, index: int) -> int:
        return sum(a.completion_tokens for a in self.attempts[:index])

    def length_chunk(self) -> bytes:
        """The final chunk when the token budget ran out exactly as the upstream failed."""
        chunk: dict[str, Any] = {
            **(self._ident or {}),
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            "frugal": {"continued": self.continued},
        }
        self.finished = True
        return b"data: " + orjson.dumps(chunk)

    def finish(self) -> bytes:
        """Everything after the last content: the summed usage chunk if asked for, then [DONE]."""
        out = b""
        if self.include_usage:
            chunk = {**(self._ident or {}), "object": "chat.completion.chunk", "choices": [], "usage": self.usage()}
            out = b"data: " + orjson.dumps(chunk) + b"\n\n"
        return out + DONE + b"\n\n"


async def continued_stream(
    payload: dict[str, Any],
    first: AsyncIterator[bytes],
    reopen: Reopen,
    *,
    include_usage: bool,
    max_attempts: int = 3,
    stitcher: Stitcher | None = None,
    on_continue: Callable[[UpstreamFailure], None] = lambda exc: None,
) -> AsyncGenerator[bytes, None]:
    """The client's stream (SSE bytes, blank lines included) over as many attempts as it takes.

    `payload` is the upstream request body as first sent. A retryable UpstreamFailure (or a stream
    that ends without a finish) opens a continuation, at most `max_attempts` calls in all; then the
    last failure is raised for the caller's relay to report. `stitcher` may be passed in to read
    the attempts (for charging each call) after the stream ends.
    """
    st = stitcher if stitcher is not None else Stitcher(include_usage)
    events: AsyncIterator[bytes] | None = first
    calls = 1
    while True:
        try:
            if events is None:
                body = continuation_request(payload, st.text, st.produced_tokens)
                if body is None:
                    yield st.length_chunk() + b"\n\n" + st.finish()
                    return
                st.begin(prefill_of(body) if st.text else "")
                events = await reopen(body)
            async for event in events:
                if event == DONE:
                    break
                out = st.feed(event)
                if out is not None:
                    yield out + b"\n\n"
            if not st.finished:
                raise UpstreamError("the upstream closed the stream before it finished", code="upstream_stream_cut")
            yield st.finish()
            return
        except UpstreamFailure as exc:
            if st.finished:  # only the usage chunk or [DONE] was lost: the answer is complete
                yield st.finish()
                return
            if not exc.retryable or calls >= max_attempts or not st.continuable:
                raise
            on_continue(exc)
            calls += 1
            events = None


__all__ = ["Attempt", "Reopen", "Stitcher", "continuation_request", "continued_stream", "prefill_of"]
