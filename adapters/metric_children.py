"""A Prometheus metric's children by label values, each looked up once.

`labels()` checks, converts and locks on every call, several times per order on the hot path.
Label sets are bounded (endpoint templates, topics, codes; never ids), and no metric of this
project removes a child, so a cached child is always the registered one.
"""

from __future__ import annotations

from typing import Any


class LabelChildren:
    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        """The child for `values`, as `metric.labels(*values)`."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
