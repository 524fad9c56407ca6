"""Published quality figures and the --max-kld bound."""

from __future__ import annotations

from infra.advisor.families import family
from infra.advisor.quality import bits_per_weight, quality, within


def test_a_kld_bound_keeps_only_types_whose_published_divergence_is_within_it() -> None:
    kept = within(family("llama-3-8b"), 0.05)
    assert kept == ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M"], f"Q4_0 (0.0719) and below are out: {kept}"
    assert within(family("llama-3-8b"), 0.0) == ["F16"], "a zero bound leaves only the reference"
    assert len(within(family("llama-3-8b"), None)) == 8, "no bound: every published type"


def test_each_figure_names_the_model_it_was_measured_on() -> None:
    l2 = quality(family("llama-2-13b"), "Q4_K_M").kld
    assert l2 is not None and (l2.value, l2.measured_on) == (0.0127, "llama-2-7b"), "Llama-2 uses the Llama-2 figure"
    q5 = quality(family("llama-2-13b"), "Q5_K_M").kld
    assert q5 is not None and q5.measured_on == "llama-3-8b", "no Llama-2 figure: the cautious Llama-3-8B one"
    other = quality(family("mistral-7b"), "Q4_K_M").kld
    assert other is not None and other.measured_on == "llama-3-8b", "other families use the cautious figure"
    assert "perplexity/README.md" in other.source, "the source is the llama.cpp README"


def test_bits_per_weight_prefer_the_model_s_own_size() -> None:
    assert bits_per_weight(family("llama-2-70b"), "Q4_K_M").value == 4.80, "70B has its own published bpw"
    assert bits_per_weight(family("llama-2-7b"), "Q4_K_M").value == 4.84, "7B has its own published bpw"
    assert bits_per_weight(family("llama-3-70b"), "Q4_K_M").measured_on == "llama-3-8b", "else the Llama-3.1-8B one"
