"""Shared pieces of the cache benchmarks: data paths, the machine line, cached embeddings."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from bench.machine import cpu_model
from runtime.cache.evaluate import Pairs, cached_embeddings

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The reference data shipped in data/shared/ (or FRUGAL_SHARED_DIR's data/)."""
    env = os.environ.get("FRUGAL_SHARED_DIR")
    return Path(env) / "data" if env else REPO / "data" / "shared"


QQP = shared_data() / "semantic-cache" / "qqp-calibration-6000.json"
GPTCACHE = shared_data() / "semantic-cache" / "gptcache-paraphrase-999.json"
EMB_CACHE = REPO / "bench" / ".cache"

_EMBEDDER = None


def embedder():
    global _EMBEDDER
    if _EMBEDDER is None:
        from runtime.cache.embedder import OnnxEmbedder

        _EMBEDDER = OnnxEmbedder(intra_op_threads=2)
    return _EMBEDDER


def embed_pairs(pairs: Pairs) -> np.ndarray:
    """Cosine of each pair, with the production embedder (vectors cached under bench/.cache)."""
    va, vb = pair_vectors(pairs)
    return (va * vb).sum(axis=1)


def pair_vectors(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    return (
        cached_embeddings(lambda t: embedder().embed(t), pairs.a, EMB_CACHE),
        cached_embeddings(lambda t: embedder().embed(t), pairs.b, EMB_CACHE),
    )


def machine() -> str:
    cpu = cpu_model()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return (
        f"nproc={os.cpu_count()}, CPU={cpu}, Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}"
    )
