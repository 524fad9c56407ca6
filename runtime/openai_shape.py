"""Answers in OpenAI's shape (its published component schemas, OpenAPI document 2.3.0), whoever
produced them: a tier, or the cache replaying a stored answer.

llama-server's answers differ from the schema in a few required details, and its `model` is the
path of its GGUF file (which names a directory of the host and is no id a client can send). So:

- `model` is the id the client asked for (a tier or an alias; for `auto`, the tier that answered);
- each choice of a chat.completion has `logprobs` (null unless asked for) and its message has
  `refusal` (null): both are required, nullable;
- a `logprobs` object has both `content` and `refusal` (required, nullable);
- every chunk of one stream has the first chunk's `created` (the schema: "each chunk has the same
  timestamp"; llama-server stamps each chunk when it is made);
- an error event inside a stream gets OpenAI's types and a string or null `code`.

Everything else (ids, usage, llama-server's extra fields such as `timings`) is kept as sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from runtime.errors import openai_error

DATA = b"data: "
DONE = b"data: [DONE]"


def _logprobs(value: Any) -> Any:
    if isinstance(value, dict):
        value.setdefault("content", None)
        value.setdefault("refusal", None)
    return value


class ChatShape:
    """Shapes one chat answer (whole or streamed) for the client that asked for `model`."""

    __slots__ = ("model", "created")

    def __init__(self, model: str) -> None:
        self.model = model
        self.created: int | None = None

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion, shaped in place (and returned)."""
        body["model"] = self.model
        for choice in body.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            choice["logprobs"] = _logprobs(choice.get("logprobs"))
            message = choice.get("message")
            if isinstance(message, dict):
                message.setdefault("role", "assistant")
                message.setdefault("content", None)
                message.setdefault("refusal", None)
        return body

    def chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """One chat.completion.chunk of this stream, shaped in place (and returned)."""
        if "error" in chunk and isinstance(chunk["error"], dict):
            return {"error": openai_error(chunk["error"], "server_error", "upstream_error")}
        chunk["model"] = self.model
        created = chunk.get("created")
        if self.created is None and isinstance(created, int):
            self.created = created
        if self.created is not None:
            chunk["created"] = self.created
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and "logprobs" in choice:
                choice["logprobs"] = _logprobs(choice["logprobs"])
        return chunk

    def event(self, event: bytes) -> bytes:
        """One SSE event (`data: {...}`) of this stream; anything else passes unchanged."""
        if not event.startswith(DATA) or event == DONE:
            return event
        try:
            chunk = orjson.loads(event[len(DATA) :])
        except orjson.JSONDecodeError:
            return event
        if not isinstance(chunk, dict):
            return event
        return DATA + orjson.dumps(self.chunk(chunk))


class EmbeddingsShape:
    """Shapes an embeddings answer: `model` is the id the client asked for."""

    __slots__ = ("model",)

    def __init__(self, model: str) -> None:
        self.model = model

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        body["model"] = self.model
        return body


class ShapedEvents:
    """An upstream's SSE events with each one shaped; closing is the upstream stream's job."""

    __slots__ = ("_events", "_shape")

    def __init__(self, events: AsyncIterator[bytes], shape: ChatShape) -> None:
        self._events = events
        self._shape = shape

    def __aiter__(self) -> ShapedEvents:
        return self

    async def __anext__(self) -> bytes:
        return self._shape.event(await self._events.__anext__())


def answered_model(asked: str, tier: str) -> str:
    """The `model` a client is told: what it asked for, or for `auto` the tier that answered."""
    return tier if asked == "auto" else asked
