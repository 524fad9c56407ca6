"""The one disconnect watcher: cancel the request's work when its client goes away.

While a request waits on the upstream (a whole answer, or the chunks of a stream), nothing reads
the ASGI `receive` channel, so a client that hangs up goes unnoticed and the upstream keeps
generating for nobody. `cancel_on_disconnect(receive)` reads that channel in a side task; on
`http.disconnect` it cancels the request's task, and the block ends with ClientDisconnected instead
of CancelledError (any other cancellation passes through unchanged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[Any]]


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was complete."""


class _Watch:
    __slots__ = ("disconnected",)

    def __init__(self) -> None:
        self.disconnected = False


async def _watch(receive: Receive, task: asyncio.Task[Any], state: _Watch) -> None:
    # A module function, not a method: the watcher must not reference the context manager, or a
    # cancelled watcher's traceback would tie them in a reference cycle on every request.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            state.disconnected = True
            task.cancel(msg="client disconnected")
            return


class cancel_on_disconnect:  # noqa: N801 - used like a function: `with cancel_on_disconnect(receive):`
    """Run the block; if the client disconnects meanwhile, cancel it and raise ClientDisconnected.
    A class rather than a generator: it is on every request's path."""

    __slots__ = ("receive", "task", "watcher", "state")

    def __init__(self, receive: Receive | None) -> None:
        self.receive = receive
        self.task: asyncio.Task[Any] | None = None
        self.watcher: asyncio.Future[None] | None = None
        self.state = _Watch()

    def __enter__(self) -> None:
        if self.receive is None:
            return
        task = asyncio.current_task()
        assert task is not None, "called from a task"
        self.task = task
        self.watcher = asyncio.ensure_future(_watch(self.receive, task, self.state))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        watcher, task, self.watcher, self.task = self.watcher, self.task, None, None
        if watcher is None or task is None:
            return
        watcher.cancel()
        if exc_type is asyncio.CancelledError and self.state.disconnected:
            task.uncancel()
            raise ClientDisconnected() from None
