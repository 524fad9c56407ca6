"""Which request fields go upstream: an allow-list per endpoint, applied where the upstream body is built.

The router's reservation is priced from `max_tokens` (runtime/accounting.py); a field the router
does not know could raise what a call generates past it, or bypass a limit. llama-server's own
`n_predict` overrides `max_tokens` (measured: `max_tokens: 4` with `n_predict: 64` generated 64
tokens), so forwarding unknown fields "because servers add parameters" lets a client set its own
price. Only the fields below are forwarded; the others are dropped and named to the client in the
`x-frugal-ignored-fields` response header.

Chat: OpenAI's parameters that change how an answer is sampled or shaped but not how long it may be
(the router sets `max_tokens` itself and always asks for usage in streams), plus llama-server's
sampling fields, which only change which token is picked next. Left out on purpose:
- length and cost: `n_predict`, `ignore_eos`, `t_max_predict_ms`, `max_completion_tokens` (the
  router sends `max_tokens`), `n_probs`/`n_cmpl`;
- server resources and other tenants: `id_slot`, `cache_prompt`, `n_keep`, `n_discard`, `lora`,
  `chat_template_kwargs`, `samplers`;
- remote tiers that bill extras (audio/`modalities`, `prediction`, `service_tier`, `web_search_options`,
  `store`, `metadata`).
"""

from __future__ import annotations

import re
from typing import Any

CHAT_OPENAI = frozenset({
    "messages", "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "stop", "seed",
    "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "response_format",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "n", "user",
    "reasoning_effort",
})  # fmt: skip
CHAT_LLAMA_SAMPLING = frozenset({
    "top_k", "min_p", "typical_p", "repeat_penalty", "repeat_last_n", "penalize_nl", "mirostat",
    "mirostat_tau", "mirostat_eta", "grammar", "json_schema", "dynatemp_range", "dynatemp_exponent",
    "xtc_probability", "xtc_threshold", "dry_multiplier", "dry_base", "dry_allowed_length",
    "dry_penalty_last_n", "dry_sequence_breakers", "top_n_sigma",
})  # fmt: skip
CHAT_FIELDS = CHAT_OPENAI | CHAT_LLAMA_SAMPLING
"""Every field of a chat request the router forwards upstream."""
STREAM_OPTION_FIELDS = frozenset({"include_usage"})
EMBEDDINGS_FIELDS = frozenset({"input", "model", "encoding_format", "dimensions", "user"})

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
IGNORED_HEADER_MAX = 10


def allowed(payload: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """The payload without the fields that are not forwarded."""
    return {k: v for k, v in payload.items() if k in fields}


def ignored_header(payload: dict[str, Any], fields: frozenset[str]) -> str | None:
    """The dropped field names for `x-frugal-ignored-fields` (header-safe names only, at most 10), or None.
    `frugal` is the router's own extension and `max_completion_tokens` is honoured as max_tokens."""
    names = [k for k in payload if k not in fields and k not in ("frugal", "max_completion_tokens")]
    if not names:
        return None
    shown = [n for n in names if _SAFE_NAME.match(n)][:IGNORED_HEADER_MAX]
    more = len(names) - len(shown)
    return ",".join(shown) + (f",+{more} more" if more else "")
