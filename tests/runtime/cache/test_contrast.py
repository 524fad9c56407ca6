"""The contrast check: a substituted word of another meaning is refused, a synonym is kept.

The suite tests run the real embedder (MiniLM int8) and the real decision (scorer.rejection) on
data/semantic-cache/contrast-suite.json; the unit tests exercise the alignment and the evidence
on their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.cache.contrast import Judge, Synonyms, default_judge, one_typo, particle_clash, shared_stem, vocabulary
from runtime.cache.embedder import EmbedderUnavailable, OnnxEmbedder
from runtime.cache.evaluate import Pairs, embed_texts, load_pairs, score_pairs
from runtime.cache.scorer import accepts, rejection
from runtime.cache.settings import PRESETS, SemanticPolicy
from runtime.cache.verify import check

SUITE = Path(__file__).resolve().parents[3] / "data" / "semantic-cache" / "contrast-suite.json"
SOFT = ("How long should I boil an egg for a soft yolk?", "How long should I boil an egg for a hard yolk?")
FASTEST = ("What is the fastest way to learn Python?", "What is the quickest way to learn Python?")


@pytest.fixture(scope="module")
def judge() -> Judge:
    return default_judge()


def cosine(embedder: OnnxEmbedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return float(va @ vb)


def suite_part(split: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{split}.json"
    path.write_text(json.dumps([r for r in json.loads(SUITE.read_text()) if r["split"] == split]))
    return path


@pytest.mark.parametrize("preset", ["conservative", "balanced"])
def test_a_soft_yolk_is_not_a_hard_yolk(preset: str, embedder: OnnxEmbedder) -> None:
    cached, query = SOFT
    similarity = cosine(embedder, query, cached)
    assert similarity >= PRESETS[preset].threshold, f"looks like a duplicate ({similarity})"
    assert check(query, cached).ok, "no rule of verify.py knows soft/hard: the contrast check must be what refuses it"
    assert rejection(PRESETS[preset], query, cached, similarity) == "contrast", f"soft/hard must be refused ({preset})"


def test_the_fastest_way_is_the_quickest_way(embedder: OnnxEmbedder, judge: Judge) -> None:
    cached, query = FASTEST
    similarity = cosine(embedder, query, cached)
    # 0.951: below conservative's 0.965, so the balanced preset is where this pair can hit
    assert rejection(PRESETS["balanced"], query, cached, similarity) is None, (
        f"fastest/quickest are synonyms and must hit under balanced (cosine {similarity:.3f})"
    )
    assert judge.contrast(query, cached) is None, "the contrast check itself keeps the synonym"


POLICIES = [PRESETS["conservative"], PRESETS["balanced"], SemanticPolicy(threshold=0.0)]
_PARTS: dict[str, tuple[Pairs, np.ndarray]] = {}


def scored_part(split: str, embedder: OnnxEmbedder, tmp_path: Path) -> tuple[Pairs, np.ndarray]:
    """A part of the suite and its cosines, embedded once per test session."""
    if split not in _PARTS:
        pairs = load_pairs(suite_part(split, tmp_path))
        cos = (embed_texts(embedder.embed, pairs.a) * embed_texts(embedder.embed, pairs.b)).sum(axis=1)
        _PARTS[split] = (pairs, cos)
    return _PARTS[split]


def wrong_hits(pairs: Pairs, cos: np.ndarray, policy: SemanticPolicy) -> list[tuple[str, str, float]]:
    return [
        (pairs.a[i], pairs.b[i], round(float(cos[i]), 3))
        for i in np.flatnonzero(pairs.labels == 0)
        if accepts(policy, pairs.b[i], pairs.a[i], float(cos[i]))
    ]


@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_no_held_out_contrast_ever_hits(policy: SemanticPolicy, embedder: OnnxEmbedder, tmp_path: Path) -> None:
    wrong = wrong_hits(*scored_part("held-out", embedder, tmp_path), policy)
    assert not wrong, f"held-out contrasts must never hit (threshold {policy.threshold}): {wrong}"


@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_the_fresh_part_has_no_wrong_hit_since_units_and_particles_are_judged(
    policy: SemanticPolicy, embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    # first measured blind with 1 wrong hit at both presets (minutes/seconds) and 2 at any cosine
    # (+ heating on/off); units and particles were judged after that, so this is no blind figure
    wrong = wrong_hits(*scored_part("fresh", embedder, tmp_path), policy)
    assert not wrong, f"the fresh part's units and particles are judged now (threshold {policy.threshold}): {wrong}"


@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_the_fresh2_blind_part_has_no_wrong_hit(policy: SemanticPolicy, embedder: OnnxEmbedder, tmp_path: Path) -> None:
    # committed before the changes it tests, measured once after them: 0 wrong hits of 104 under
    # both presets and at any cosine
    wrong = wrong_hits(*scored_part("fresh2", embedder, tmp_path), policy)
    assert not wrong, f"fresh2 contrasts must never hit (threshold {policy.threshold}): {wrong}"


def test_frugal_cache_eval_functions_score_the_suite(embedder: OnnxEmbedder, tmp_path: Path) -> None:
    pairs = load_pairs(suite_part("held-out", tmp_path))
    assert pairs.fmt == "labelled" and len(pairs.a) > 150, "the suite is in the labelled format eval reads"
    cos = (embed_texts(embedder.embed, pairs.a) * embed_texts(embedder.embed, pairs.b)).sum(axis=1)
    score = score_pairs(pairs, cos, PRESETS["balanced"], accepts)
    assert score.precision == 1.0, f"every balanced hit on the held-out part is a true paraphrase ({score})"
    assert score.recall >= 0.45, f"at least 45% of held-out paraphrases still hit under balanced ({score})"
    raw = score_pairs(pairs, cos, PRESETS["raw"], accepts)
    assert raw.hits - raw.true_hits >= 10, f"raw cosine takes many contrasts: the suite is hard ({raw})"


def test_changes_of_function_words_and_contractions_are_no_contrast(judge: Judge) -> None:
    assert judge.contrast("How do I reset my password?", "How can I reset my password?") is None, "do/can"
    assert judge.contrast("What's the best way to invest?", "What is the best way to invest?") is None, "what's"
    assert (
        judge.contrast("What are the best shampoos for dandruff?", "What is the best shampoo for dandruff?") is None
    ), "a plural of a word outside the vocabulary is the same word"
    assert judge.contrast("What is the colour of Mars?", "What is the color of Mars?") is None, "British spelling"


def test_a_preposition_or_degree_word_swapped_for_a_word_is_judged(judge: Judge) -> None:
    found = judge.contrast("How do I zoom in on a document?", "How do I zoom out on a document?")
    assert found is not None and found.b == ("out",), f"in/out is a contrast ({found})"
    found = judge.contrast("Is slightly high blood pressure bad?", "Is very high blood pressure bad?")
    assert found is not None, "slightly/very is a contrast of degree"


def test_opposite_heads_on_one_stem_are_a_contrast_but_misspellings_are_not() -> None:
    assert shared_stem("upstream", "downstream") == "stream", "up/down + stream"
    assert shared_stem("clockwise", "counterclockwise") == "clockwise", "a prefix added"
    assert shared_stem("ascend", "descend") == "scend", "a/de + scend"
    assert shared_stem("integrate", "incorporate") is None, "a common ending is not a shared stem"
    assert shared_stem("demonitization", "demonetization") is None, "a misspelt head is not a prefix"


def test_only_a_substitution_in_texts_one_edit_apart_is_judged(judge: Judge) -> None:
    assert judge.contrast("How do I quickly boil an egg for a hard yolk?", "How do I boil an egg for a soft yolk?"), (
        "a contrast next to one inserted qualifier is still judged"
    )
    reworded = judge.substitutions(
        "The load_dataset function fetches data from the Hub and caches it.",
        "The load_dataset function downloads data from the Hub and stores it.",
    )
    assert reworded == [], f"two content edits are a rewording, left to the cosine threshold ({reworded})"


def test_wordnet_synonymy_counts_only_in_a_common_sense() -> None:
    synonyms = Synonyms()
    assert synonyms.same("fast", "quick"), "fast/quick share 'flying, quick, fast' (quick's 2nd sense)"
    assert synonyms.same("buy", "purchase"), "buy/purchase share their first sense"
    assert not synonyms.same("hour", "minute"), "hour/minute share only a rare sense (travel time)"
    assert not synonyms.same("soft", "hard"), "antonyms share no synset"


def test_two_units_of_one_dimension_are_a_contrast_even_when_wordnet_joins_them(judge: Judge) -> None:
    assert Synonyms().same("minute", "second"), (
        "WordNet's 'moment, minute, second' joins them: why a unit rule is needed"
    )
    for a, b in (("minutes", "seconds"), ("grams", "ounces"), ("miles", "kilometers"), ("weeks", "months")):
        found = judge.contrast(f"How many {a} does it take to get there?", f"How many {b} does it take to get there?")
        assert found is not None and found.reason == "unit", f"{a}/{b} are two units of one dimension ({found})"
    assert judge.contrast("How many km is a marathon?", "How many kilometers is a marathon?") is None, (
        "an abbreviation of the same unit is the same unit"
    )
    assert judge.contrast("How many kilometres is a marathon?", "How many kilometers is a marathon?") is None, (
        "British spelling of the same unit"
    )


def test_opposite_particles_are_a_contrast_in_either_word_order(judge: Judge) -> None:
    found = judge.contrast("How do I turn the heating on remotely?", "How do I turn the heating off remotely?")
    assert found is not None and found.reason == "particle", f"on/off reverses the action ({found})"
    found = judge.contrast("How do I turn on the lights?", "How do I turn the lights off?")
    assert found is not None and found.reason == "particle", f"on/off in another word order ({found})"
    found = judge.contrast("How do I round up in Excel?", "How do I round down in Excel?")
    assert found is not None, f"up/down is a contrast ({found})"
    assert judge.contrast("How do I turn off the lights?", "How do I turn the lights off?") is None, (
        "the same particle moved is the same question"
    )
    assert particle_clash(["fly", "over", "it"], ["fly", "under", "it"]) == ("over", "under"), "over/under"
    assert particle_clash(["in", "and", "out"], ["out", "and", "in"]) is None, "both texts have both particles"


def test_misspellings_and_an_added_qualifier_keep_a_hit(judge: Judge) -> None:
    assert one_typo("demonitization", "demonetization") and one_typo("recieve", "receive"), "one letter or a swap"
    assert not one_typo("inflate", "deflate"), "two letters apart is no typo"
    assert judge.contrast("Will demonetisation curb black money?", "Will demonitization curb black money?") is None, (
        "a misspelling of an unknown long word is the same word"
    )
    assert (
        judge.contrast(
            "What is the difference between HTML and XHTML?", "What are the key differences between HTML and XHTML?"
        )
        is None
    ), "the same word plus one qualifier is no substitution"
    assert judge.contrast("How do I fix a leaking tap?", "How do I fix a leaking top?") is not None, (
        "short known words one letter apart are different words"
    )


def test_a_verb_joins_its_direct_hypernym_but_a_noun_does_not(judge: Judge) -> None:
    assert judge.contrast("How do I choose a good melon?", "How do I pick a good melon?") is None, "pick -> choose"
    assert judge.contrast("How can I calm a crying baby?", "How can I soothe a crying baby?") is None, "soothe -> calm"
    found = judge.contrast("How much does a dentist earn?", "How much does an orthodontist earn?")
    assert found is not None, f"an orthodontist is a kind of dentist, not the same job ({found})"
    found = judge.contrast("How do I increase my salary?", "How do I decrease my salary?")
    assert found is not None, f"siblings under one hypernym are not joined ({found})"


def test_missing_tables_fail_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build_synonyms.py"):
        Synonyms(tmp_path / "missing.txt.gz")
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{}")
    with pytest.raises(EmbedderUnavailable, match="vocabulary"):
        vocabulary(broken)
