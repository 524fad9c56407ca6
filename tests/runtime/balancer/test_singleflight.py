"""Single-flight: calls counted at a fake upstream that answers when the test lets it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from runtime.singleflight import SingleFlight

pytestmark = pytest.mark.anyio


class Upstream:
    """Counts calls; each call waits for `go` so that callers can pile up while it is in flight."""

    def __init__(self) -> None:
        self.calls = 0
        self.go = asyncio.Event()
        self.fail: Exception | None = None
        self.cancelled = 0

    async def answer(self) -> bytes:
        self.calls += 1
        try:
            await self.go.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail:
            raise self.fail
        return b"the answer"

    async def chunks(self, n: int, step: asyncio.Queue[None]) -> AsyncIterator[bytes]:
        self.calls += 1
        try:
            for i in range(n):
                await step.get()
                yield f"chunk{i}".encode()
            if self.fail:
                raise self.fail
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_n_identical_concurrent_requests_make_exactly_one_upstream_call() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    callers = [asyncio.ensure_future(sf.do("k", up.answer)) for _ in range(16)]
    await settle()
    up.go.set()
    results = await asyncio.gather(*callers)
    assert up.calls == 1 and sf.calls == 1 and sf.shared == 15, "sixteen callers, one upstream call"
    assert results == [b"the answer"] * 16, "every caller got the answer"
    assert not sf.in_flight("k"), "the key is forgotten once the call ended"
    assert await sf.do("k", up.answer) == b"the answer" and up.calls == 2, "a later request makes its own call"


async def test_different_keys_do_not_share() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    up.go.set()
    await asyncio.gather(sf.do("a", up.answer), sf.do("b", up.answer))
    assert up.calls == 2, "two keys, two calls"


async def test_a_failure_reaches_every_caller() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    up.fail = RuntimeError("upstream down")
    callers = [asyncio.ensure_future(sf.do("k", up.answer)) for _ in range(3)]
    await settle()
    up.go.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "upstream down" for r in results), f"all failed: {results}"
    assert up.calls == 1, "one call failed once"


async def test_one_caller_cancelling_does_not_cancel_the_call_for_the_others_but_the_last_one_does() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    leader = asyncio.ensure_future(sf.do("k", up.answer))
    follower = asyncio.ensure_future(sf.do("k", up.answer))
    await settle()
    leader.cancel()
    await settle()
    assert up.cancelled == 0, "the follower still waits, so the call goes on"
    up.go.set()
    assert await follower == b"the answer", "the follower got the answer of the call the leader started"
    up2, sf2 = Upstream(), SingleFlight[str, bytes]()
    only = asyncio.ensure_future(sf2.do("k", up2.answer))
    await settle()
    only.cancel()
    await settle()
    assert up2.cancelled == 1 and not sf2.in_flight("k"), "with nobody waiting the call is cancelled"


async def test_a_stream_is_fanned_out_and_a_late_joiner_gets_the_earlier_chunks_then_the_live_ones() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    step: asyncio.Queue[None] = asyncio.Queue()

    async def read(it: AsyncIterator[bytes]) -> list[bytes]:
        return [c async for c in it]

    first = asyncio.ensure_future(read(sf.stream("k", lambda: up.chunks(4, step))))
    await settle()
    step.put_nowait(None)
    step.put_nowait(None)
    await settle()
    late = asyncio.ensure_future(read(sf.stream("k", lambda: up.chunks(4, step))))
    await settle()
    step.put_nowait(None)
    step.put_nowait(None)
    expected = [b"chunk0", b"chunk1", b"chunk2", b"chunk3"]
    assert await first == expected and await late == expected, "both callers got every chunk in order"
    assert up.calls == 1 and sf.shared == 1, "one upstream stream for two callers"


async def test_a_stream_failure_reaches_every_listener_after_its_chunks() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    up.fail = RuntimeError("cut")
    step: asyncio.Queue[None] = asyncio.Queue()
    for _ in range(2):
        step.put_nowait(None)

    async def read(it: AsyncIterator[bytes]) -> tuple[list[bytes], str]:
        got: list[bytes] = []
        try:
            async for c in it:
                got.append(c)
        except RuntimeError as exc:
            return got, str(exc)
        return got, "no error"

    results = await asyncio.gather(*(read(sf.stream("k", lambda: up.chunks(2, step))) for _ in range(3)))
    assert results == [([b"chunk0", b"chunk1"], "cut")] * 3, f"each saw both chunks, then the failure: {results}"
    assert up.calls == 1, "one upstream stream"


async def test_a_stream_listener_leaving_keeps_the_stream_for_the_others_and_the_last_one_stops_it() -> None:
    up, sf = Upstream(), SingleFlight[str, bytes]()
    step: asyncio.Queue[None] = asyncio.Queue()
    a = sf.stream("k", lambda: up.chunks(3, step))
    b = sf.stream("k", lambda: up.chunks(3, step))
    step.put_nowait(None)
    assert await a.__anext__() == b"chunk0" and await b.__anext__() == b"chunk0", "both read the first chunk"
    await a.aclose()  # type: ignore[attr-defined]
    step.put_nowait(None)
    assert await b.__anext__() == b"chunk1" and up.cancelled == 0, "b still reads live chunks after a left"
    await b.aclose()  # type: ignore[attr-defined]
    await settle()
    assert up.cancelled == 1 and not sf.in_flight("k"), "the last listener leaving stopped the upstream stream"
