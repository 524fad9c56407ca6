"""The request shapes the router validates (OpenAI's chat and embeddings APIs, plus `frugal` limits).

Strict types (a string where an integer belongs is a 400, as with OpenAI); unknown fields are
accepted, but only allow-listed ones go upstream (runtime/forwarding.py). pydantic was measured
against msgspec for this job (bench/client_choice.py); see docs/benchmarks.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.chat_schema import check_chat
from runtime.errors import InvalidRequest

ANSWER_FIELDS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "tools", "tool_choice",
    "response_format", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "n",
    "top_k", "min_p", "repeat_penalty", "grammar", "json_schema", "reasoning_effort",
)  # fmt: skip
"""Fields that can change the answer; they go into the cache key (runtime/cache/protocol.py)."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Open):
    include_usage: bool = False


class FrugalOptions(BaseModel):
    """Body extension; the same limits may come as headers (x-frugal-max-cost-usd, ...)."""

    model_config = ConfigDict(extra="forbid")
    max_cost_usd: Decimal | None = Field(default=None, gt=0)
    latency_target_ms: float | None = Field(default=None, gt=0)
    cache: Literal["default", "no-store", "no-cache"] = "default"


class ChatRequest(_Open):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    """OpenAI's schema allows `null` (= false)."""
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=1, description="one choice per request (llama-server)")
    frugal: FrugalOptions | None = None

    @field_validator("stream", mode="before")
    @classmethod
    def _null_stream(cls, value: Any) -> Any:
        return False if value is None else value


_Batch = Field(min_length=1, max_length=2048)
EMBEDDINGS_INPUT = "a string, or an array of 1 to 2048 strings, token ids, or non-empty arrays of token ids"


class EmbeddingsRequest(_Open):
    """OpenAI's `CreateEmbeddingRequest`: a string, or 1-2048 strings, token ids or token-id lists."""

    model: str | None = None
    input: (
        str
        | Annotated[list[str], _Batch]
        | Annotated[list[int], _Batch]
        | Annotated[list[Annotated[list[int], Field(min_length=1)]], _Batch]
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "decimal"})


def _is_type_tag(part: int | str) -> bool:
    """pydantic puts union members (`str`, `list[...]`, `function-after[...]`) into error locations."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part or "-" in part)


def _param(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


def validate(model: type[ChatRequest] | type[EmbeddingsRequest], payload: Any) -> Any:
    """Validate a decoded body, or raise InvalidRequest naming the first bad field and why. A chat
    request's messages, content parts and tools are checked against OpenAI's request schema too
    (runtime/chat_schema.py), so nothing malformed reaches a tier."""
    if not isinstance(payload, dict):
        raise InvalidRequest(f"the request body must be a JSON object, got {type(payload).__name__}")
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        where = _param(tuple(p for p in first["loc"] if not _is_type_tag(p)))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        if model is EmbeddingsRequest and where.startswith("input"):
            # a union of four shapes: pydantic's first complaint would be about the first shape only
            raise InvalidRequest(f"invalid field input: expected {EMBEDDINGS_INPUT}", param="input") from None
        raise InvalidRequest(f"invalid field {where or 'body'}: {first['msg']}{more}", param=where or None) from None
    if model is ChatRequest:
        check_chat(payload)
    return parsed
