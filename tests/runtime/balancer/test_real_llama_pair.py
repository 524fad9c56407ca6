"""Replica discovery and stream continuation against two real llama-servers on the small model.

Replica a has 2 slots and b 3 (`--parallel`), so the slot counts read from /props are visible.
The continuation test kills a mid-stream (SIGKILL; and SIGTERM, on which llama-server sends an
SSE comment, closes its streams unfinished and exits 0) and continues the answer on b. The request
asks the model to count, with the answer prefilled as "1," by the client: at temperature 0 the
small model then counts correctly for well over a hundred tokens, so a repeated or missing piece
of the stitched stream shows up as a break in the sequence of numbers.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import aiohttp
import orjson
import pytest

from runtime.continuation import Stitcher, continued_stream
from runtime.errors import UpstreamError
from runtime.replicas import ReplicaSet, StaticDiscovery
from runtime.upstream import translate
from tests.runtime.balancer.llama_pair import LlamaPair, aiohttp_getter

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

COUNT: dict[str, Any] = {
    "model": "small",
    "messages": [
        {"role": "user", "content": "Count from 1 to 100, separated by commas."},
        {"role": "assistant", "content": "1,"},
    ],
    "max_tokens": 150,
    "temperature": 0,
    "stream": True,
    "stream_options": {"include_usage": True},
}

CANONICAL = ", ".join(str(n) for n in range(1, 101))


async def sse_events(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
    """The upstream's SSE events, failures translated as the router's upstream module does."""
    with translate(url):
        async with session.post(url + "/v1/chat/completions", data=orjson.dumps(body)) as resp:
            if resp.status != 200:
                raise UpstreamError(f"{url} answered {resp.status}")
            async for line in resp.content:
                line = line.rstrip(b"\r\n")
                if line:
                    yield line
    # llama-server killed between events: the body simply ends


async def test_slots_are_read_from_props_of_real_llama_servers_and_a_killed_one_leaves_the_rotation(
    llama_pair: LlamaPair,
) -> None:
    pair = llama_pair.ensure()
    async with aiohttp.ClientSession() as session:
        rs = ReplicaSet("small", StaticDiscovery((pair.a.url, pair.b.url)), partial(aiohttp_getter, session))
        await rs.refresh()
        slots = {url: r.slots for url, r in rs.replicas.items()}
        assert slots == {pair.a.url: 2, pair.b.url: 3}, f"total_slots from each server's /props: {slots}"
        assert rs.ready_slots == 5, "the tier has 5 slots"
        assert rs.pick() is rs.replicas[pair.b.url], "b has the most free slots"
        pair.a.kill(signal.SIGKILL)
        await rs.refresh()
        assert not rs.replicas[pair.a.url].ready and rs.ready_slots == 3, "the killed replica is out of rotation"


async def test_llama_server_continues_a_trailing_assistant_message_and_echoes_it_first(llama_pair: LlamaPair) -> None:
    pair = llama_pair.ensure()
    body = {**COUNT, "messages": [COUNT["messages"][0], {"role": "assistant", "content": "1, 2, 3,"}], "max_tokens": 6}
    async with aiohttp.ClientSession() as session:
        events = [e async for e in sse_events(session, pair.b.url, body)]
    deltas = [
        c["choices"][0]["delta"].get("content")
        for c in (orjson.loads(e[6:]) for e in events if e != b"data: [DONE]")
        if c.get("choices")
    ]
    contents = [d for d in deltas if d]
    assert contents[0].startswith("1, 2, 3,") and len(contents[0]) > len("1, 2, 3,"), (
        f"the prefill comes back echoed with the first new token: {contents[0]!r}"
    )
    joined = "".join(contents)
    assert CANONICAL.startswith(joined) and len(joined) > len("1, 2, 3, 4"), f"and the answer continues it: {contents}"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_a_stream_whose_replica_is_killed_continues_on_the_other_replica_without_repeats(
    llama_pair: LlamaPair, sig: signal.Signals
) -> None:
    pair = llama_pair.ensure()
    kill_after = 20
    stitcher = Stitcher(include_usage=True)
    received: list[bytes] = []
    before_kill = ""
    async with aiohttp.ClientSession() as session:

        async def reopen(body: dict[str, Any]) -> AsyncIterator[bytes]:
            return sse_events(session, pair.b.url, body)

        stream = continued_stream(
            COUNT, sse_events(session, pair.a.url, COUNT), reopen, include_usage=True, stitcher=stitcher
        )
        content_chunks = 0
        async for out in stream:
            received.append(out)
            if b'"content"' in out:
                content_chunks += 1
                if content_chunks == kill_after:
                    pair.a.kill(sig, wait=False)  # the loop must keep reading while a stops
                    before_kill = stitcher.text
    # SSE comments (llama-server sends ":" as it shuts down) are passed on; clients ignore them.
    events = [e for e in b"".join(received).split(b"\n\n") if e and not e.startswith(b":")]
    assert events[-1] == b"data: [DONE]" and events.count(b"data: [DONE]") == 1, "one normal end"
    chunks = [orjson.loads(e[6:]) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert stitcher.continued == 1, "exactly one continuation (a was killed once)"
    assert before_kill and text.startswith(before_kill), "the client's text starts with what it had before the kill"
    assert CANONICAL.startswith(text) and len(text) > len(before_kill) + 20, (
        f"the count runs on past the kill with nothing repeated or skipped: {text!r}"
    )
    assert len({c["id"] for c in chunks}) == 1, "every chunk carries the first call's id"
    assert sum(1 for c in chunks if c["choices"] and "role" in c["choices"][0]["delta"]) == 1, "one role chunk"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["frugal"] == {"continued": 1}, "one final chunk, marked continued"
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 150 or finals[0]["choices"][0]["finish_reason"] == "stop", (
        f"the two calls together produced the 150 tokens asked for: {usage}"
    )
