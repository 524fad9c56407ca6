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


class cancel_on_disconnect:  # noqa: N801 - used like a function: `with cancel_on_disconnect(receive):`
    """Run the block; if the client disconnects meanwhile, cancel it and raise ClientDisconnected.
    A class rather than a generator: it is on every request's path."""

    __slots__ = ("receive", "task", "watcher", "disconnected")

    def __init__(self, receive: Receive | None) -> None:
        self.receive = receive
        self.disconnected = False

    def __enter__(self) -> None:
        if self.receive is None:
            return
        task = asyncio.current_task()
        assert task is not None, "called from a task"
        self.task = task
        self.watcher = asyncio.ensure_future(self._watch(self.receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                self.task.cancel(msg="client disconnected")
                return

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.receive is None:
            return
        self.watcher.cancel()
        if exc_type is asyncio.CancelledError and self.disconnected:
            self.task.uncancel()
            raise ClientDisconnected() from None
