"""A small learned scorer: logistic regression on a few lexical features plus the cosine.

Fitted by bench/fit_scorer.py on the training split of the QQP calibration pairs (a fixed, seeded
split; the held-out split is only ever used to report), and shipped as coefficients in
runtime/cache/data/scorer.json. It only ever sees pairs that passed the rules in verify.py, so it
learns what remains: a different topic word ("frustrations with YouTube" / "... with education"),
a missing qualifier, a much longer question.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.cache.contrast import Judge, default_judge
from runtime.cache.settings import SemanticPolicy
from runtime.cache.verify import check, content, tokens

SCORER_PATH = Path(__file__).parent / "data" / "scorer.json"
FEATURES = ("cosine", "jaccard", "unmatched_max", "unmatched_min", "proper_unmatched", "length_ratio", "bias")


def features(a: str, b: str, cosine: float) -> np.ndarray:
    ta, tb = tokens(a), tokens(b)
    ca, cb = set(content(ta)), set(content(tb))
    union = ca | cb
    jaccard = len(ca & cb) / len(union) if union else 1.0
    ua, ub = len(ca - cb), len(cb - ca)
    # capitalised words past the first token: names, places, products
    pa = {w.lower() for w in a.split()[1:] if w[:1].isupper()}
    pb = {w.lower() for w in b.split()[1:] if w[:1].isupper()}
    proper = len(pa ^ pb)
    la, lb = max(len(ta), 1), max(len(tb), 1)
    return np.array(
        [cosine, jaccard, max(ua, ub), min(ua, ub), proper, min(la, lb) / max(la, lb), 1.0], dtype=np.float64
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iterations: int = 50) -> np.ndarray:
    """Newton's method (IRLS) with a small L2 penalty; x includes the bias column."""
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


@dataclass(frozen=True)
class Scorer:
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, a: str, b: str, cosine: float) -> float:
        f = features(a, b, cosine)
        z = (f - np.array(self.mean)) / np.array(self.scale)
        z[-1] = 1.0
        return 1.0 / (1.0 + math.exp(-float(z @ np.array(self.weights))))

    def to_json(self) -> dict[str, object]:
        return {"features": list(FEATURES), "weights": self.weights, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Scorer:
        if data.get("features") != list(FEATURES):
            raise ValueError(
                f"scorer file features {data.get('features')} do not match this code's {list(FEATURES)}; "
                "fix: re-run bench/fit_scorer.py"
            )
        return cls(tuple(data["weights"]), tuple(data["mean"]), tuple(data["scale"]))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path = SCORER_PATH) -> Scorer:
        return cls.from_json(json.loads(path.read_text()))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Scorer:
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        mean[-1], scale[-1] = 0.0, 1.0
        scale[scale == 0] = 1.0
        z = (x - mean) / scale
        w = fit_logistic(z, y.astype(np.float64))
        return cls(tuple(map(float, w)), tuple(map(float, mean)), tuple(map(float, scale)))


_DEFAULT: Scorer | None = None


def default_scorer() -> Scorer:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Scorer.load()
    return _DEFAULT


def rejection(
    policy: SemanticPolicy,
    query: str,
    cached: str,
    similarity: float,
    scorer: Scorer | None = None,
    judge: Judge | None = None,
) -> str | None:
    """None if the pair is accepted, else why not: 'threshold', a rule's name (verify.py),
    'contrast' (a substituted word of another meaning, contrast.py) or 'scorer'."""
    if similarity < policy.threshold:
        return "threshold"
    if policy.verify:
        # the rules first: they are microseconds and name the reason precisely (number, negation...)
        verdict = check(query, cached)
        if not verdict.ok:
            return verdict.reason
        if (judge or default_judge()).contrast(query, cached) is not None:
            return "contrast"
    if (
        policy.min_probability is not None
        and (scorer or default_scorer()).probability(query, cached, similarity) < policy.min_probability
    ):
        return "scorer"
    return None


def accepts(policy: SemanticPolicy, query: str, cached: str, similarity: float) -> bool:
    return rejection(policy, query, cached, similarity) is None
