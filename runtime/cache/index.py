"""HNSW indexes (usearch, cosine) of semantic entries, one per (tenant, model) partition.

A partition per tenant and model means one tenant's entries can never crowd another's out of the
candidate list, and invalidating a tenant drops whole indexes. Inside a partition the conversation
scope is checked on the candidates; when every one of the k candidates is still above the recall
threshold but belongs to other conversations, the search widens (k doubles, up to `max_k`), so a
popular follow-up in many conversations does not hide this conversation's entry.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from runtime.cache.embedder import DIM

if TYPE_CHECKING:
    from usearch.index import Index

Partition = tuple[str, str]


def usearch_index_class() -> type[Index]:
    """usearch's Index, imported on first use so a cache without semantic matching never loads it.

    onnxruntime must be loaded before usearch: the other order segfaults inside onnxruntime's
    extension module (seen with onnxruntime 1.32 + usearch 2.26 on Python 3.11). Every index is made
    here, so the order holds whichever of the two the process needs first.
    """
    with contextlib.suppress(ImportError):  # exact-only deployments may not install the embedding runtime
        import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def new_index(dtype: str = "f32") -> Index:
    return usearch_index_class()(
        ndim=DIM, metric="cos", dtype=dtype, connectivity=16, expansion_add=128, expansion_search=64
    )


@dataclass(frozen=True)
class Candidate:
    label: int
    similarity: float


class SemanticIndex:
    def __init__(self, *, dtype: str = "f32", max_k: int = 256) -> None:
        self._dtype = dtype
        self._max_k = max_k
        self._indexes: dict[Partition, Index] = {}
        self._removed: dict[Partition, int] = {}

    def __len__(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    def partitions(self) -> list[Partition]:
        return list(self._indexes)

    def get(self, partition: Partition) -> Index | None:
        return self._indexes.get(partition)

    def put_index(self, partition: Partition, index: Index) -> None:
        self._indexes[partition] = index
        self._removed[partition] = 0

    def add(self, partition: Partition, label: int, vector: np.ndarray) -> None:
        index = self._indexes.get(partition)
        if index is None:
            index = self._indexes[partition] = new_index(self._dtype)
            self._removed[partition] = 0
        index.add(label, vector)

    def remove(self, partition: Partition, label: int) -> None:
        index = self._indexes.get(partition)
        if index is None:
            return
        index.remove(label)
        self._removed[partition] = self._removed.get(partition, 0) + 1
        if len(index) == 0:
            del self._indexes[partition]
            self._removed.pop(partition, None)

    def needs_compaction(self, partition: Partition) -> bool:
        """Removed labels leave tombstones; a partition with more tombstones than live entries is rebuilt."""
        index = self._indexes.get(partition)
        return index is not None and self._removed.get(partition, 0) > max(len(index), 1024)

    def rebuild(self, partition: Partition, labels: np.ndarray, vectors: np.ndarray) -> None:
        if len(labels) == 0:
            self._indexes.pop(partition, None)
            self._removed.pop(partition, None)
            return
        index = new_index(self._dtype)
        index.add(labels, vectors)
        self.put_index(partition, index)

    def drop(self, partition: Partition) -> None:
        self._indexes.pop(partition, None)
        self._removed.pop(partition, None)

    def search(
        self,
        partition: Partition,
        vector: np.ndarray,
        *,
        min_similarity: float,
        accept: set[int] | None = None,
        k: int = 8,
    ) -> list[Candidate]:
        """Candidates with cosine >= min_similarity, best first.

        `accept`, when given, is the set of labels in the caller's scope: the search widens until it
        has seen every candidate above the threshold or max_k of them.
        """
        index = self._indexes.get(partition)
        if index is None or len(index) == 0:
            return []
        while True:
            k = min(k, len(index))
            matches = index.search(vector, k)
            found = [
                Candidate(int(label), 1.0 - float(distance))
                for label, distance in zip(matches.keys, matches.distances, strict=True)
                if 1.0 - float(distance) >= min_similarity
            ]
            exhausted = len(found) < k or k >= len(index) or k >= self._max_k
            in_scope = found if accept is None else [c for c in found if c.label in accept]
            if in_scope or exhausted:
                return in_scope
            k *= 2
