"""Stream continuation in process: request building, and stitching attempts from scripted upstreams.

The scripted upstream behaves as llama-server was measured to (test_continuation_real.py checks the
real one): a trailing assistant message is continued, and its text comes back echoed in the first
content delta together with the first new token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from runtime.continuation import Stitcher, continuation_request, continued_stream
from runtime.errors import UpstreamError, UpstreamFailure, UpstreamRejected

pytestmark = pytest.mark.anyio

TOKENS = [f"{n}, " for n in range(1, 41)]
ASK: dict[str, Any] = {
    "model": "small",
    "messages": [{"role": "user", "content": "count"}],
    "max_tokens": 40,
    "stream": True,
}


class Upstream:
    """Streams TOKENS from wherever the prefill ends; fails after `cut_after` content chunks if set."""

    def __init__(self, name: str, cut_after: int | None = None, echo: bool = True) -> None:
        self.name = name
        self.cut_after = cut_after
        self.echo = echo
        self.bodies: list[dict[str, Any]] = []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        c = {
            "id": f"chatcmpl-{self.name}",
            "created": len(self.name),
            "model": self.name,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(c)

    async def events(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        self.bodies.append(body)
        msgs = body["messages"]
        prefill = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else ""
        done = "".join(TOKENS)
        assert done.startswith(prefill), "the scripted model only continues its own text"
        start = len([t for t in range(len(TOKENS)) if len("".join(TOKENS[: t + 1])) <= len(prefill)])
        yield self._chunk({"role": "assistant", "content": None})
        left = TOKENS[start : start + body["max_tokens"]]
        for i, tok in enumerate(left):
            if self.cut_after is not None and i == self.cut_after:
                raise UpstreamError(f"{self.name} was killed", code="upstream_stream_cut")
            text = prefill + tok if (i == 0 and self.echo and prefill) else tok
            yield self._chunk({"content": text})
        finish = "length" if len(left) == body["max_tokens"] and start + len(left) < len(TOKENS) else "stop"
        yield self._chunk({}, finish)
        usage = {"prompt_tokens": 10 + start, "completion_tokens": len(left), "total_tokens": 10 + start + len(left)}
        yield b"data: " + orjson.dumps({"id": "x", "created": 0, "model": self.name, "choices": [], "usage": usage})
        yield b"data: [DONE]"


async def collect(stream: AsyncIterator[bytes]) -> list[dict[str, Any]]:
    raw = b"".join([b async for b in stream])
    events = [e for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]", "the client stream ends with [DONE]"
    assert events.count(b"data: [DONE]") == 1, "[DONE] is sent once"
    return [orjson.loads(e[6:]) for e in events[:-1]]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_the_continuation_request_carries_the_relayed_text_and_the_remaining_tokens() -> None:
    body = continuation_request(ASK, "1, 2, ", 2)
    assert body is not None, "tokens remain"
    assert body["messages"][-1] == {"role": "assistant", "content": "1, 2, "}, "the relayed text is the prefill"
    assert body["max_tokens"] == 38, "40 asked, 2 produced"
    assert body["stream_options"] == {"include_usage": True}, "usage is always asked for, to charge the call"
    assert ASK["messages"] == [{"role": "user", "content": "count"}], "the original request is not modified"
    assert continuation_request(ASK, "x" * 40, 40) is None, "nothing left to ask for once max_tokens is spent"


def test_a_client_prefill_is_extended_not_duplicated() -> None:
    ask = {**ASK, "messages": [*ASK["messages"], {"role": "assistant", "content": "1, "}]}
    echoed = continuation_request(ask, "1, 2, ", 1)
    plain = continuation_request(ask, "2, ", 1)
    assert echoed and echoed["messages"][-1]["content"] == "1, 2, ", "an echoed prefill is already in the text"
    assert plain and plain["messages"][-1]["content"] == "1, 2, ", "a non-echoing upstream's text is appended"
    assert len(echoed["messages"]) == 2, "no second assistant message"


@pytest.mark.parametrize("echo", [True, False], ids=["echoing-upstream", "non-echoing-upstream"])
async def test_a_stream_cut_after_five_chunks_continues_on_another_replica_as_one_stream(echo: bool) -> None:
    a, b = Upstream("a", cut_after=5), Upstream("b", echo=echo)
    continued: list[UpstreamFailure] = []
    stitcher = Stitcher(include_usage=True)

    async def reopen(body: dict[str, Any]) -> AsyncIterator[bytes]:
        return b.events(body)

    stream = continued_stream(ASK, a.events(ASK), reopen, include_usage=True, stitcher=stitcher,
                              on_continue=continued.append)  # fmt: skip
    chunks = await collect(stream)
    assert text_of(chunks) == "".join(TOKENS), "the client got the whole count once: nothing repeated or missing"
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {("chatcmpl-a", 1, "a")}, "one identity"
    roles = [c for c in chunks if c["choices"] and "role" in c["choices"][0]["delta"]]
    assert len(roles) == 1, "one role chunk"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["frugal"] == {"continued": 1}, "one final chunk, marked continued"
    assert b.bodies[0]["max_tokens"] == 35 and b.bodies[0]["messages"][-1]["content"] == "".join(TOKENS[:5]), (
        "b continued after the five relayed tokens with the rest of the budget"
    )
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 40, "5 from a (cut, counted by chunk) + 35 from b"
    assert usage["prompt_tokens"] == 15 + (15 - 5), "b reported 15 (10 + the 5-token prefill); a is estimated at 15 - 5"
    assert len(continued) == 1 and stitcher.continued == 1, "one continuation, reported to the caller"


async def test_without_include_usage_no_usage_chunk_reaches_the_client() -> None:
    a, b = Upstream("a", cut_after=3), Upstream("b")

    async def reopen(body: dict[str, Any]) -> AsyncIterator[bytes]:
        return b.events(body)

    chunks = await collect(continued_stream(ASK, a.events(ASK), reopen, include_usage=False))
    assert all("usage" not in c for c in chunks), "no usage anywhere when the client did not ask"
    assert text_of(chunks) == "".join(TOKENS), "the text is whole"


async def test_when_attempts_run_out_the_last_failure_is_raised_after_what_was_relayed() -> None:
    ups = [Upstream("a", cut_after=2), Upstream("b", cut_after=2), Upstream("c", cut_after=2)]

    async def reopen(body: dict[str, Any]) -> AsyncIterator[bytes]:
        return ups.pop(0).events(body) if ups else Upstream("never").events(body)

    got: list[bytes] = []
    with pytest.raises(UpstreamError, match="killed"):
        async for b in continued_stream(ASK, ups.pop(0).events(ASK), reopen, include_usage=False, max_attempts=3):
            got.append(b)
    assert text_of([orjson.loads(e[6:]) for e in b"".join(got).split(b"\n\n") if e]) == "".join(TOKENS[:6]), (
        "three calls of two tokens each were relayed before the honest error"
    )
    assert len(ups) == 0, "exactly three calls were made"


async def test_a_non_retryable_failure_is_not_continued() -> None:
    async def refuse(body: dict[str, Any]) -> AsyncIterator[bytes]:
        raise AssertionError("no continuation for a rejected request")

    async def rejected() -> AsyncIterator[bytes]:
        raise UpstreamRejected("context too long", 400)
        yield b""  # pragma: no cover

    with pytest.raises(UpstreamRejected):
        async for _ in continued_stream(ASK, rejected(), refuse, include_usage=False):
            pass


async def test_a_cut_that_spent_the_whole_budget_ends_with_finish_reason_length() -> None:
    ask = {**ASK, "max_tokens": 4}
    a = Upstream("a", cut_after=4)

    async def reopen(body: dict[str, Any]) -> AsyncIterator[bytes]:
        raise AssertionError("nothing left to continue")

    chunks = await collect(continued_stream(ask, a.events(ask), reopen, include_usage=True))
    assert text_of(chunks) == "".join(TOKENS[:4]), "the four tokens asked for"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length", "ended as a max_tokens stop would"
    assert chunks[-1]["usage"]["completion_tokens"] == 4, "usage counts the four produced"


async def test_a_replica_that_refuses_the_continuation_is_skipped_for_the_next_one() -> None:
    a, c = Upstream("a", cut_after=3), Upstream("c")
    opened: list[str] = []

    async def reopen(body: dict[str, Any]) -> AsyncIterator[bytes]:
        if not opened:
            opened.append("b")
            raise UpstreamError("b: connection refused", code="upstream_connect")
        opened.append("c")
        return c.events(body)

    stitcher = Stitcher(include_usage=False)
    stream = continued_stream(ASK, a.events(ASK), reopen, include_usage=False, stitcher=stitcher)
    raw = b"".join([b async for b in stream])
    chunks = [orjson.loads(e[6:]) for e in raw.split(b"\n\n") if e and e != b"data: [DONE]"]
    assert text_of(chunks) == "".join(TOKENS), "c continued the answer after b refused"
    assert opened == ["b", "c"] and stitcher.continued == 2, "the refused open counted as an attempt"
    assert c.bodies[0]["messages"][-1]["content"] == "".join(TOKENS[:3]), "c was asked to continue a's three tokens"


def test_upstream_sse_comments_pass_through_unchanged() -> None:
    st = Stitcher(include_usage=False)
    assert st.feed(b":") == b":" and st.feed(b": ping") == b": ping", "comments are legal SSE; clients skip them"
    assert st.feed(b"data: [DONE]") is None, "[DONE] is held for finish()"
