"""Prometheus children looked up once per label set.

prometheus_client's `labels()` takes a lock, checks and joins the label values on every call;
the hot path touches about ten labelled series per request. `Labelled(metric).labels(*values)`
keeps each child in a dict after its first use (label sets are bounded by the callers: tiers,
kinds, results, statuses), so a repeat costs one dict lookup.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class Labelled(Generic[M]):
    __slots__ = ("metric", "_children")

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


__all__ = ["Labelled"]
