"""Exact keys, semantic scopes and determinism: what makes two requests the same."""

from __future__ import annotations

from runtime.cache import keys
from tests.runtime.cache.conftest import ask


def test_the_exact_key_ignores_whitespace_noise_and_transport_fields() -> None:
    base = keys.exact_key(ask("What is 2+2?"))
    assert keys.exact_key(ask("What is 2+2?\r\n  ")) == base, "trailing whitespace and CRLF do not matter"
    assert keys.exact_key(ask("What is 2+2?", params={"stream": True, "user": "x"})) == base, "transport fields ignored"
    parts = ask("x")
    parts.messages[-1]["content"] = [{"type": "text", "text": "What is 2+2?"}]
    assert keys.exact_key(parts) == base, "a content list of one text part equals the plain string"


def test_the_exact_key_changes_with_tenant_model_history_and_answer_parameters() -> None:
    base = keys.exact_key(ask("What is 2+2?"))
    variants = {
        "tenant": ask("What is 2+2?", tenant="other"),
        "model": ask("What is 2+2?", model="large"),
        "history": ask("What is 2+2?", history=[{"role": "system", "content": "Answer in French."}]),
        "temperature": ask("What is 2+2?", temperature=0.5),
        "tools": ask("What is 2+2?", params={"tools": [{"type": "function", "function": {"name": "calc"}}]}),
        "seed": ask("What is 2+2?", params={"seed": 1}),
        "text": ask("What is 2+3?"),
    }
    for name, request in variants.items():
        assert keys.exact_key(request) != base, f"a different {name} must give a different exact key"


def test_the_semantic_scope_covers_everything_but_the_latest_user_turn() -> None:
    a = keys.semantic_scope(ask("How do I sort a list?"))
    assert keys.semantic_scope(ask("How can I sort a list?")) == a, "the latest turn is not part of the scope"
    assert keys.semantic_scope(ask("How do I sort a list?", tenant="b")) != a, "tenant is part of the scope"
    assert keys.semantic_scope(ask("How do I sort a list?", model="large")) != a, "model is part of the scope"
    history = [{"role": "system", "content": "You are terse."}]
    assert keys.semantic_scope(ask("How do I sort a list?", history=history)) != a, "the system prompt scopes"
    assert keys.semantic_scope(ask("How do I sort a list?", params={"max_tokens": 9})) != a, "parameters scope"


def test_only_temperature_zero_or_a_seed_is_deterministic() -> None:
    assert keys.is_deterministic({"temperature": 0}), "temperature 0 is deterministic"
    assert keys.is_deterministic({"temperature": 0.7, "seed": 3}), "a seed is deterministic"
    assert not keys.is_deterministic({}), "no temperature means the server default, not 0"
    assert not keys.is_deterministic({"temperature": 0.2}), "temperature > 0 without a seed is not"


def test_only_a_plain_text_user_turn_is_embedded() -> None:
    assert keys.latest_user_text([{"role": "user", "content": " Hi "}]) == "Hi", "text of the last user turn"
    assert keys.latest_user_text([{"role": "assistant", "content": "Hi"}]) is None, "not after an assistant turn"
    tool = [{"role": "tool", "content": "42", "tool_call_id": "c1"}]
    assert keys.latest_user_text(tool) is None, "not after a tool result"
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}]
    assert keys.latest_user_text(image) is None, "not for images"
