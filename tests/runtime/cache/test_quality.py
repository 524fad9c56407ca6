"""Hard negatives that embeddings score as near-duplicates must never hit; true paraphrases mostly must.

Real embedder, real rules. The negatives are checked at a cosine threshold far below the presets
(0.80) too, so it is the verification step that rejects them, not luck with the threshold.
"""

from __future__ import annotations

import pytest

from runtime.cache.scorer import rejection
from runtime.cache.settings import PRESETS, SemanticPolicy

HARD_NEGATIVES = {
    "number": [
        ("What did Proposition 54 change in California?", "What did Proposition 55 change in California?"),
        ("What is the interest on a 30-year mortgage?", "What is the interest on a 15-year mortgage?"),
        ("Who won the 2018 World Cup?", "Who won the 2022 World Cup?"),
        ("What is 15% of 200?", "What is 20% of 200?"),
        ("Summarise chapter 3 of the report.", "Summarise chapter 4 of the report."),
        ("How long does it take to boil two eggs?", "How long does it take to boil three eggs?"),
    ],
    "ordinal": [
        ("When did the First Congo War start?", "When did the Second Congo War start?"),
        ("Who was the 3rd president of the United States?", "Who was the 4th president of the United States?"),
        ("What happened in World War I?", "What happened in World War II?"),
        ("What is the first step of the onboarding process?", "What is the last step of the onboarding process?"),
    ],
    "negation": [
        ("Can I take ibuprofen with alcohol?", "Can I not take ibuprofen with alcohol?"),
        ("Why can I sleep well at night?", "Why can't I sleep well at night?"),
        ("Is the API key required for this endpoint?", "Is the API key not required for this endpoint?"),
        ("Can I build muscle with bodyweight exercises?", "Can I build muscle without bodyweight exercises?"),
        ("Should I refinance my mortgage now?", "Should I never refinance my mortgage?"),
    ],
    "antonym": [
        ("Is chocolate good for dogs?", "Is chocolate bad for dogs?"),
        ("How do I increase my credit score?", "How do I decrease my credit score?"),
        ("What is the best time to buy stocks?", "What is the best time to sell stocks?"),
        ("What are the advantages of remote work?", "What are the disadvantages of remote work?"),
        ("Is it legal to record a phone call?", "Is it illegal to record a phone call?"),
        ("What are the pros of nuclear energy?", "What are the cons of nuclear energy?"),
        ("How do I enable two-factor authentication?", "How do I disable two-factor authentication?"),
    ],
    "swap": [
        ("How do I convert liters to kilograms?", "How do I convert kilograms to liters?"),
        ("Why does a girl ignore a boy she likes?", "Why does a boy ignore a girl she likes?"),
        ("How do I transfer money from savings to checking?", "How do I transfer money from checking to savings?"),
        ("Is Python faster than Java?", "Is Java faster than Python?"),
        ("Translate this sentence from English to French.", "Translate this sentence from French to English."),
        ("What is the exchange rate from USD to EUR?", "What is the exchange rate from EUR to USD?"),
        (
            "What happens when diesel is used in a petrol engine?",
            "What happens when petrol is used in a diesel engine?",
        ),
    ],
    "entity": [
        ("How safe is Papua New Guinea compared to Austria?", "How safe is Papua New Guinea compared to Australia?"),
        ("How do I install Docker on Ubuntu?", "How do I install Docker on Fedora?"),
    ],
}

PARAPHRASES = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("What is the capital of France?", "What's the capital city of France?"),
    ("How do I make pancakes at home?", "How can I make pancakes at home?"),
    ("What are the symptoms of diabetes?", "What are the symptoms of diabetes mellitus?"),
    ("How do I learn to play the guitar?", "How can I learn to play guitar?"),
    ("What is the best way to lose weight?", "What's the best way to lose weight?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("What is machine learning?", "What is machine learning exactly?"),
    ("How do you boil an egg?", "How do I boil an egg?"),
    ("Why is the sky blue?", "Why is the sky blue in color?"),
    ("How do I convert liters to kilograms?", "How can I convert liters into kilograms?"),
    ("What does a VPN do?", "What does a VPN actually do?"),
]


@pytest.fixture(scope="module")
def cosine(embedder):
    def cos(a: str, b: str) -> float:
        va, vb = embedder.embed([a, b])
        return float(va @ vb)

    return cos


@pytest.mark.parametrize("policy_name", ["conservative", "balanced", "permissive-0.80"])
@pytest.mark.parametrize(
    ("category", "pair"), [(c, p) for c, pairs in HARD_NEGATIVES.items() for p in pairs], ids=lambda v: str(v)[:40]
)
def test_no_hard_negative_ever_hits(policy_name: str, category: str, pair: tuple[str, str], cosine) -> None:
    policy = PRESETS.get(policy_name) or SemanticPolicy(threshold=0.80, verify=True)
    cached, query = pair
    similarity = cosine(query, cached)
    reason = rejection(policy, query, cached, similarity)
    assert reason is not None, f"{category} pair must not hit under {policy_name} (cosine {similarity:.3f}): {pair}"


def test_most_hard_negatives_look_like_duplicates_to_the_embedding(cosine) -> None:
    sims = [cosine(a, b) for pairs in HARD_NEGATIVES.values() for a, b in pairs]
    share = sum(s >= 0.85 for s in sims) / len(sims)
    assert share >= 0.7, f"the suite must be hard: only {share:.0%} of negatives have cosine >= 0.85"


@pytest.mark.parametrize("policy_name", ["conservative", "balanced"])
def test_most_true_paraphrases_hit(policy_name: str, cosine) -> None:
    policy = PRESETS[policy_name]
    misses = [(a, b, round(cosine(b, a), 3)) for a, b in PARAPHRASES if rejection(policy, b, a, cosine(b, a))]
    hit_share = 1 - len(misses) / len(PARAPHRASES)
    # conservative trades recall for precision by design (0.965 cosine); "most" still means > 2/3
    floor = 0.7 if policy_name == "conservative" else 0.9
    assert hit_share >= floor, f"{policy_name}: only {hit_share:.0%} of paraphrases hit; misses: {misses}"
