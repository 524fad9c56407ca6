"""Every cost and every bound of the router: what a call may cost (reserved against a budget before
it) and what it did cost (settled after it), in USD (Decimal). No other module prices tokens.

    cost = prompt_tokens / 1000 x prompt_per_1k + completion_tokens / 1000 x completion_per_1k

Token counts come from the upstream's `usage`. A tier's per-1k prices are configured, or derived from
its instance: price_per_1k = hourly_usd / (3600 x tokens_per_second x utilization) x 1000 (see
`runtime.settings.Price.per_1k`).

The reservation must never be smaller than what the call can cost, or concurrent calls could
overspend. Completion tokens are capped by the `max_tokens` the router sends upstream. Prompt tokens
are bounded without a tokenizer: a token of these vocabularies covers at least one byte of text, so
the UTF-8 byte count of every message plus a per-message allowance for the chat template's special
tokens is an upper bound. It overestimates (about 4 bytes a token in English); settlement refunds
the difference right after the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

THOUSAND = Decimal(1000)
TEMPLATE_TOKENS_PER_MESSAGE = 16
"""Role markers and separators a chat template adds per message (Gemma/Llama templates use < 10)."""
TEMPLATE_TOKENS_FIXED = 32
"""BOS, the assistant prefix and a generation prompt."""
USD_QUANTUM = Decimal("0.000000001")


@dataclass(frozen=True, slots=True)
class TierPrice:
    prompt_per_1k: Decimal
    completion_per_1k: Decimal

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        raw = (
            Decimal(prompt_tokens) * self.prompt_per_1k + Decimal(completion_tokens) * self.completion_per_1k
        ) / THOUSAND
        return raw.quantize(USD_QUANTUM)


def _content_bytes(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content.encode())
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                total += len(text.encode()) if isinstance(text, str) else len(str(part).encode())
            else:
                total += len(str(part).encode())
        return total
    return len(str(content).encode())


def prompt_token_bound(messages: list[dict[str, Any]], extra: Any = None) -> int:
    """An upper bound on the prompt tokens of a chat request (see the module docstring)."""
    total = TEMPLATE_TOKENS_FIXED
    for m in messages:
        total += TEMPLATE_TOKENS_PER_MESSAGE + _content_bytes(m.get("content"))
        if "tool_calls" in m:
            total += len(str(m["tool_calls"]).encode())
    if extra:
        total += len(str(extra).encode())
    return total


def usage_tokens(body: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) from an OpenAI `usage` object, or None if absent/invalid."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(p, int) and isinstance(c, int) and p >= 0 and c >= 0:
        return p, c
    return None


def embeddings_usage(body: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt_tokens, 0) from an embeddings answer's `usage` (it has no completion tokens)."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    return usage_tokens({"usage": {"completion_tokens": 0, **usage}})


@dataclass(frozen=True, slots=True)
class Bound:
    """The most tokens one upstream call can be billed for: reserved before the call."""

    prompt_tokens: int
    completion_tokens: int

    def worst_case(self, price: TierPrice) -> Decimal:
        return price.cost(self.prompt_tokens, self.completion_tokens)


@dataclass(frozen=True, slots=True)
class Charge:
    """What a finished (or cut-short) call costs, and the token counts reported to metrics."""

    cost: Decimal
    prompt_tokens: int
    completion_tokens: int
    overrun: bool = False
    """The upstream reported more than the bound allowed; `cost` was capped at the reservation."""


EMBEDDINGS_OVERHEAD_TOKENS = 16
"""BOS/EOS and separators an embedding model adds around the input."""


def chat_bound(messages: list[dict[str, Any]], tools: Any, max_tokens: int) -> Bound:
    """The worst case of a chat call: the prompt bound, and at most `max_tokens` generated."""
    return Bound(prompt_token_bound(messages, tools), max_tokens)


def embeddings_bound(inputs: Any) -> Bound:
    """The worst case of an embeddings call: every byte of the JSON-encoded input a token, none generated."""
    return Bound(len(orjson.dumps(inputs)) + EMBEDDINGS_OVERHEAD_TOKENS, 0)


def charge(price: TierPrice, bound: Bound, usage: tuple[int, int] | None) -> Charge:
    """A completed call: the upstream's usage priced; without usage, the bound (never guess low).

    Invariant: the cost never exceeds the bound's worst case, which is what was reserved. An upstream
    that reports more (it generated past max_tokens, or the prompt bound was wrong) is charged the
    reservation and flagged `overrun`, for the caller to log and count: a budget is never overspent
    because an upstream misbehaved."""
    worst = bound.worst_case(price)
    if usage is None:
        return Charge(worst, 0, 0)
    cost = price.cost(*usage)
    if cost > worst or usage[1] > bound.completion_tokens:
        return Charge(min(cost, worst), usage[0], usage[1], overrun=True)
    return Charge(cost, usage[0], usage[1])


def cut_short_charge(price: TierPrice, bound: Bound, streamed_chunks: int) -> Charge:
    """A stream that ended before its usage arrived: the prompt bound plus one token per content chunk
    streamed (llama-server sends one token a chunk), never more than what was reserved."""
    cost = min(price.cost(bound.prompt_tokens, streamed_chunks), bound.worst_case(price))
    return Charge(cost, 0, streamed_chunks)
