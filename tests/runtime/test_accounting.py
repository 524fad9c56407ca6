"""The one cost module: bounds reserved before a call, charges settled after it, a cut stream."""

from __future__ import annotations

from decimal import Decimal

from runtime.accounting import (
    Bound,
    TierPrice,
    charge,
    chat_bound,
    cut_short_charge,
    embeddings_bound,
    embeddings_usage,
    prompt_token_bound,
)

PRICE = TierPrice(Decimal("0.01"), Decimal("0.02"))
MESSAGES = [{"role": "user", "content": "Say hello."}]


def test_a_completed_call_is_charged_its_usage_and_without_usage_its_bound() -> None:
    bound = chat_bound(MESSAGES, None, 100)
    assert bound == Bound(prompt_token_bound(MESSAGES), 100), "the chat bound is the prompt bound and max_tokens"
    used = charge(PRICE, bound, (12, 5))
    assert used.cost == Decimal("0.00022") and (used.prompt_tokens, used.completion_tokens) == (12, 5), (
        f"usage priced: 12 x 0.01/1k + 5 x 0.02/1k ({used})"
    )
    blind = charge(PRICE, bound, None)
    assert blind.cost == bound.worst_case(PRICE), "no usage: the reserved worst case, never a low guess"


def test_a_cut_stream_costs_its_prompt_bound_and_chunks_but_never_more_than_the_bound() -> None:
    bound = Bound(50, 10)
    early = cut_short_charge(PRICE, bound, 3)
    assert early.cost == PRICE.cost(50, 3), f"prompt bound + one token per streamed chunk ({early})"
    runaway = cut_short_charge(PRICE, bound, 1000)
    assert runaway.cost == bound.worst_case(PRICE), "more chunks than max_tokens still cost at most the reservation"


def test_an_embeddings_bound_covers_every_byte_of_the_input_and_usage_has_no_completion() -> None:
    text = "héllo wörld"
    bound = embeddings_bound(text)
    assert bound.prompt_tokens >= len(text.encode()) and bound.completion_tokens == 0, (
        f"every byte could be a token, nothing is generated ({bound})"
    )
    assert embeddings_usage({"usage": {"prompt_tokens": 4, "total_tokens": 4}}) == (4, 0), "prompt tokens only"
    assert embeddings_usage({"data": []}) is None, "no usage reported: None, so the bound is charged"
