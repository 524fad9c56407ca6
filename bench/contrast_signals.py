"""Can MiniLM itself tell a synonym from a contrast? The signals measured before choosing the method.

    .venv/bin/python bench/contrast_signals.py

On the tuning half of the contrast suite (single-slot pairs), for the substituted words: the
cosine of their contextual token embeddings (last hidden state, inside each full sentence), of
the two sentences, of the words embedded alone, and of a window of two words either side. AUC =
the chance that a random paraphrase scores above a random contrast (1.0 = perfect separation);
"highest contrast" / "lowest paraphrase" show the overlap a threshold would face. Also the cost of
a model run on one word vs a sentence: the contextual signal needs a run per candidate.
"""

from __future__ import annotations

import json
import sys
import time
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine  # noqa: E402
from runtime.cache.embedder import OnnxEmbedder  # noqa: E402

SUITE = REPO / "data" / "semantic-cache" / "contrast-suite.json"


def slot(a: str, b: str) -> tuple[int, int, int, int]:
    """Character span of the substituted words in a and in b (whole words)."""
    ops = [o for o in SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if o[0] != "equal"]
    i1, i2 = ops[0][1], ops[-1][2]
    while i1 > 0 and a[i1 - 1].isalnum():
        i1 -= 1
    while i2 < len(a) and a[i2].isalnum():
        i2 += 1
    return i1, i2, i1, len(b) - (len(a) - i2)


def token_vector(embedder: OnnxEmbedder, text: str, start: int, end: int) -> np.ndarray:
    encoding = embedder._tokenizer.encode(text)
    ids = np.array([encoding.ids])
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    hidden = embedder._session.run(None, feeds)[0][0]
    rows = [i for i, (s, e) in enumerate(encoding.offsets) if s >= start and e <= end and e > s]
    v = hidden[rows].mean(axis=0)
    return np.asarray(v / np.linalg.norm(v))


def auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def main() -> int:
    print(f"machine: {machine()}")
    embedder = OnnxEmbedder()
    rows = []
    for r in json.loads(SUITE.read_text()):
        if r["split"] != "tune" or r["kind"] == "reword paraphrase":
            continue
        a, b = r["text_a"], r["text_b"]
        a1, a2, b1, b2 = slot(a, b)
        wa, wb = a[a1:a2], b[b1:b2]
        pre, post = a[:a1].split()[-2:], a[a2:].split()[:2]
        sent = embedder.embed([a, b])
        word = embedder.embed([wa, wb])
        window = embedder.embed([" ".join([*pre, wa, *post]), " ".join([*pre, wb, *post])])
        context = float(token_vector(embedder, a, a1, a2) @ token_vector(embedder, b, b1, b2))
        rows.append(
            (r["label"], context, float(sent[0] @ sent[1]), float(word[0] @ word[1]), float(window[0] @ window[1]))
        )
    labels = [row[0] for row in rows]
    print(f"\n{sum(labels)} paraphrases, {len(labels) - sum(labels)} contrasts (tuning half)\n")
    print("| signal | AUC | highest contrast | lowest paraphrase |")
    print("|---|---:|---:|---:|")
    names = ("contextual token embeddings", "sentence cosine", "the words embedded alone", "two-word window")
    for k, name in enumerate(names, 1):
        xs = [row[k] for row in rows]
        high = max(x for x, y in zip(xs, labels, strict=True) if y == 0)
        low = min(x for x, y in zip(xs, labels, strict=True) if y == 1)
        print(f"| {name} | {auc(xs, labels):.3f} | {high:.3f} | {low:.3f} |")
    for texts, name in ((["soft"], "one word"), (["How long should I boil an egg for a soft yolk?"], "one sentence")):
        seconds = []
        for _ in range(50):
            start = time.perf_counter()
            embedder.embed(texts)
            seconds.append(time.perf_counter() - start)
        print(f"\nmodel run on {name}: p50 {1000 * np.median(seconds):.2f} ms, min {1000 * min(seconds):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
