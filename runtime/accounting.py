"""Cost of a request in USD (Decimal), and the upper bound reserved against a budget before the call.

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
