"""The one disconnect watcher: cancel the request's work when its client goes away.

While a request waits on the upstream (a whole answer, or the chunks of a stream), nothing reads
the ASGI `receive` channel, so a client that hangs up goes unnoticed and the upstream keeps
generating for nobody. `cancel_on_disconnect(receive)` reads that channel in a side task; on
`http.disconnect` it cancels the request's task, and the block ends with ClientDisconnected instead
of CancelledError (any other cancellation passes through unchanged).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

Receive = Callable[[], Awaitable[Any]]


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was complete."""


class _Watch:
    __slots__ = ("disconnected",)

    def __init__(self) -> None:
        self.disconnected = False


async def _watch(receive: Receive, task: asyncio.Task[Any], state: _Watch) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            state.disconnected = True
            task.cancel(msg="client disconnected")
            return


@contextlib.contextmanager
def cancel_on_disconnect(receive: Receive | None) -> Iterator[None]:
    """Run the block; if the client disconnects meanwhile, cancel it and raise ClientDisconnected."""
    if receive is None:
        yield
        return
    me = asyncio.current_task()
    assert me is not None, "called from a task"
    state = _Watch()
    watcher = asyncio.ensure_future(_watch(receive, me, state))
    try:
        yield
    except asyncio.CancelledError:
        if not state.disconnected:
            raise
        me.uncancel()
        raise ClientDisconnected() from None
    finally:
        watcher.cancel()
