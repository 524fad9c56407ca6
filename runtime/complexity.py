"""A fast local complexity score of a conversation, in [0, 1], for `model: auto`.

No model and no tokenizer: a handful of text signals computed in one pass over the messages
(well under 0.2 ms for ordinary chats; bench/router_overhead.py measures it). Signals and weights:

| signal | weight | saturates at |
|---|---|---|
| length of the last user message | 0.25 | 2000 characters |
| length of the whole conversation | 0.10 | 8000 characters |
| conversation depth (messages) | 0.10 | 12 messages |
| code (```, `def `, `class `, `function`, `SELECT `, `#include`, `=>`, `return `, `import `) | 0.15 | present |
| reasoning words (prove, derive, step by step, analyse, trade-off, why, explain, compare...) | 0.20 | 3 distinct |
| math (a digit, an operator or `=`, a digit; `\\frac`, `\\int`, integral, derivative, equation) | 0.10 | present |

| structured output or tools requested (response_format json, tools) | 0.10 | present |

Code, reasoning and math are looked for in the system prompt's first 1000 characters plus the last
user message, at most its last 4000 characters (case-insensitive substrings for words).

The score is the weighted sum. Tiers declare the highest score they accept (`max_complexity`);
`auto` picks the cheapest tier whose limit covers the score (runtime/routing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Substring searches, not regex alternations: `in` on a few kB is a memchr-speed scan, while an
# alternation of \b-anchored words measured ~0.2-0.3 ms per pattern on a 2 kB prompt.
CODE_MARKERS = ("```", "def ", "class ", "function", "SELECT ", "#include", "=>", "return ", "import ", "{\n")
REASON_STEMS = (
    "prove", "proof", "derive", "derivation", "step by step", "step-by-step", "analyz", "analys", "trade-off",
    "tradeoff", "why", "explain", "compare", "justify", "reason", "optimiz", "optimis", "design", "architecture",
    "evaluate", "critique",
)  # fmt: skip
MATH_MARKERS = ("\\frac", "\\int", "integral", "derivative", "equation", "sum of")
_ARITHMETIC = re.compile(r"\d ?[-+*/^=] ?\d")
PROBE_CHARS = 4000
"""Only the last 4000 characters of the probe are scanned: enough to see what is asked, and the
cost stays flat for long pastes (their length already counts through the length signals)."""

WEIGHTS = {
    "last_user_length": 0.25,
    "conversation_length": 0.10,
    "depth": 0.10,
    "code": 0.15,
    "reasoning": 0.20,
    "math": 0.10,
    "structured": 0.10,
}


@dataclass(frozen=True, slots=True)
class Complexity:
    score: float
    signals: dict[str, float]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def score(messages: list[dict[str, Any]], params: dict[str, Any] | None = None) -> Complexity:
    """Score a conversation; `params` are the other request fields (tools, response_format)."""
    last_user = ""
    total = 0
    for m in messages:
        t = _text(m.get("content"))
        total += len(t)
        if m.get("role") == "user":
            last_user = t
    # Look for code/reasoning/math in the last user turn plus the system prompt: older turns were
    # already answered and would make every long chat look hard.
    system = (
        _text(messages[0].get("content")) if messages and messages[0].get("role") in ("system", "developer") else ""
    )
    probe = (last_user if not system else system[:1000] + "\n" + last_user)[-PROBE_CHARS:]
    lower = probe.lower()
    p = params or {}
    rf = p.get("response_format")
    structured = bool(p.get("tools")) or (isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"))
    signals = {
        "last_user_length": min(1.0, len(last_user) / 2000),
        "conversation_length": min(1.0, total / 8000),
        "depth": min(1.0, max(0, len(messages) - 1) / 12),
        "code": 1.0 if any(m in probe for m in CODE_MARKERS) else 0.0,
        "reasoning": min(1.0, sum(1 for w in REASON_STEMS if w in lower) / 3),
        "math": 1.0 if any(m in lower for m in MATH_MARKERS) or _ARITHMETIC.search(probe) else 0.0,
        "structured": 1.0 if structured else 0.0,
    }
    s = sum(WEIGHTS[k] * v for k, v in signals.items())
    return Complexity(round(min(1.0, s), 4), signals)
