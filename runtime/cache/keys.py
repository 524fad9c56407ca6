"""What makes two requests "the same": normalisation, exact keys, semantic scopes, determinism.

The exact key hashes the tenant, the requested model, the normalised messages and every
answer-changing parameter, so two requests share a key only if the upstream would be asked the
very same thing. The semantic scope hashes the same things except the latest user turn (which is
what gets embedded): an entry can only ever match a request of the same tenant, model, parameters
and conversation so far (system prompt and earlier turns).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import orjson

from runtime.cache.protocol import CacheRequest

# Request fields that never change the answer's content: transport, accounting, cache controls.
NON_ANSWER_PARAMS = frozenset({"stream", "stream_options", "user", "metadata", "cache", "store", "service_tier"})


_TRAILING_SPACE = re.compile(r"\s\n")


def normalise_text(text: str) -> str:
    """NFC, unified newlines, trailing whitespace per line and around the text removed.

    Whitespace inside a line is kept: it can matter (code, tables) and the model sees it.
    """
    if text.isascii() and "\r" not in text and not _TRAILING_SPACE.search(text) and text == text.strip():
        return text  # already normal (most prompts): every request's key normalises each message
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _normalise_value(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value)
    if isinstance(value, dict):
        return {k: _normalise_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalise_value(v) for v in value]
    return value


def normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with normalised text; a content list of only text parts becomes one string."""
    out = []
    for message in messages:
        m = _normalise_value(message)
        content = m.get("content")
        if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            m["content"] = "\n".join(p.get("text", "") for p in content)
        out.append(m)
    return out


def answer_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _normalise_value(v) for k, v in params.items() if k not in NON_ANSWER_PARAMS and v is not None}


def _digest(obj: Any) -> str:
    blob = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.blake2b(blob, digest_size=20).hexdigest()


def short_hash(text: str) -> str:
    """A fixed-width, separator-free name for a tenant or model inside Redis keys."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def exact_key(request: CacheRequest) -> str:
    """The request's exact key, computed once per request (normalising and hashing cost more than
    everything else the cache does on a miss)."""
    if request.exact_key_memo is None:
        key = _digest(
            {
                "v": 2,
                "tenant": request.tenant,
                "model": request.model,
                "messages": normalise_messages(request.messages),
                "params": answer_params(request.params),
            }
        )
        object.__setattr__(request, "exact_key_memo", key)  # a frozen dataclass: set once, here only
        return key
    return request.exact_key_memo


def is_deterministic(params: dict[str, Any]) -> bool:
    """temperature 0 or a seed. A missing temperature means the server default (not 0)."""
    if params.get("seed") is not None:
        return True
    temperature = params.get("temperature")
    return temperature is not None and float(temperature) == 0.0


def latest_user_text(messages: list[dict[str, Any]]) -> str | None:
    """The text of the last message if it is a user turn made only of text; else None."""
    if not messages:
        return None
    last = normalise_messages(messages[-1:])[0]
    if last.get("role") != "user" or set(last) - {"role", "content", "name"}:
        return None
    content = last.get("content")
    return content if isinstance(content, str) and content else None


def semantic_scope(request: CacheRequest) -> str:
    """Hash of tenant, model, parameters and the conversation before the latest user turn."""
    return _digest(
        {
            "v": 2,
            "tenant": request.tenant,
            "model": request.model,
            "before": normalise_messages(request.messages[:-1]),
            "last_name": request.messages[-1].get("name") if request.messages else None,
            "params": answer_params(request.params),
        }
    )
