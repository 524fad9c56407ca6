"""Measuring the semantic decision on labelled pairs: precision, recall, hit rate, sweeps.

Two pair formats are read: `{text_a, text_b, label}` (QQP calibration: label 1 = same question)
and `{origin, similar}` (GPTCache's paraphrases: every pair is a duplicate). A pair "hits" when
`text_b` asked of a cache holding `text_a` would be answered from it: cosine >= threshold and the
policy's verification and scorer accept it. Precision = true duplicates among hits; recall = hits
among duplicates; hit rate = hits among all pairs. `retrieval` runs GPTCache's own benchmark:
every `origin` cached in one index, every `similar` asked, the best accepted candidate counted
right (its own origin) or wrong (another one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from runtime.cache.settings import SemanticPolicy


class PairsFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Pairs:
    a: list[str]
    b: list[str]
    labels: np.ndarray
    fmt: str
    """'labelled' (text_a/text_b/label) or 'paraphrase' (origin/similar)."""


def load_pairs(path: Path) -> Pairs:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PairsFormatError(f"{path}: not JSON ({exc}); fix: pass a JSON list of pairs") from exc
    if not isinstance(data, list) or not data or not all(isinstance(p, dict) for p in data):
        raise PairsFormatError(f"{path}: expected a non-empty JSON list of objects")
    first = data[0]
    if {"text_a", "text_b", "label"} <= set(first):
        fmt, ka, kb = "labelled", "text_a", "text_b"
    elif {"origin", "similar"} <= set(first):
        fmt, ka, kb = "paraphrase", "origin", "similar"
    else:
        raise PairsFormatError(
            f"{path}: unknown pair format (keys {sorted(first)}); fix: use text_a/text_b/label or origin/similar"
        )
    for i, p in enumerate(data):
        if not isinstance(p.get(ka), str) or not isinstance(p.get(kb), str):
            raise PairsFormatError(f"{path}: pair {i} lacks string fields {ka!r}/{kb!r}")
        if fmt == "labelled" and p.get("label") not in (0, 1):
            raise PairsFormatError(f"{path}: pair {i} has label {p.get('label')!r}; expected 0 or 1")
    labels = np.array([p["label"] if fmt == "labelled" else 1 for p in data], dtype=np.int8)
    return Pairs([p[ka] for p in data], [p[kb] for p in data], labels, fmt)


def embed_texts(embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """Embed many texts, batching by length (less padding, same vectors)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for start in range(0, len(texts), batch):
        idx = order[start : start + batch]
        out[idx] = embed([texts[i] for i in idx])
    return out


def cached_embeddings(
    embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], cache_dir: Path | None
) -> np.ndarray:
    """embed_texts with an on-disk cache keyed by the texts (for repeated benchmark runs)."""
    if cache_dir is None:
        return embed_texts(embed, texts)
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"emb-{digest}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    vectors = embed_texts(embed, texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


@dataclass(frozen=True)
class Score:
    threshold: float
    pairs: int
    hits: int
    true_hits: int
    precision: float | None
    recall: float
    hit_rate: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


Decide = Callable[[SemanticPolicy, str, str, float], bool]


def score_pairs(
    pairs: Pairs, cosines: np.ndarray, policy: SemanticPolicy, decide: Decide, mask: np.ndarray | None = None
) -> Score:
    idx = np.arange(len(pairs.a)) if mask is None else np.flatnonzero(mask)
    hits = np.array(
        [cosines[i] >= policy.threshold and decide(policy, pairs.b[i], pairs.a[i], float(cosines[i])) for i in idx],
        dtype=bool,
    )
    labels = pairs.labels[idx]
    n_hits = int(hits.sum())
    true_hits = int((hits & (labels == 1)).sum())
    positives = int((labels == 1).sum())
    return Score(
        threshold=policy.threshold,
        pairs=len(idx),
        hits=n_hits,
        true_hits=true_hits,
        precision=true_hits / n_hits if n_hits else None,
        recall=true_hits / positives if positives else 0.0,
        hit_rate=n_hits / len(idx) if len(idx) else 0.0,
    )


def sweep(
    pairs: Pairs,
    cosines: np.ndarray,
    policy: SemanticPolicy,
    decide: Decide,
    thresholds: Sequence[float],
    mask: np.ndarray | None = None,
) -> list[Score]:
    return [score_pairs(pairs, cosines, policy.model_copy(update={"threshold": t}), decide, mask) for t in thresholds]


@dataclass(frozen=True)
class RetrievalScore:
    queries: int
    right: int
    wrong: int
    hit_rate: float
    precision: float | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def retrieval(
    pairs: Pairs, va: np.ndarray, vb: np.ndarray, policy: SemanticPolicy, decide: Decide, k: int = 8
) -> RetrievalScore:
    """GPTCache's benchmark: cache every `a`, ask every `b`, take the best accepted candidate."""
    from runtime.cache.index import new_index

    index = new_index()
    index.add(np.arange(len(va), dtype=np.uint64), va)
    right = wrong = 0
    matches = index.search(vb, k)
    for q in range(len(vb)):
        for label, distance in zip(matches.keys[q], matches.distances[q], strict=True):
            similarity = 1.0 - float(distance)
            if similarity < policy.threshold:
                break
            if decide(policy, pairs.b[q], pairs.a[int(label)], similarity):
                if int(label) == q:
                    right += 1
                else:
                    wrong += 1
                break
    hits = right + wrong
    return RetrievalScore(len(vb), right, wrong, hits / len(vb), right / hits if hits else None)
