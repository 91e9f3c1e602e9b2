"""The metric contract and the name -> metric registry.

A metric scores one prediction string against one or more reference strings. Every metric also has a
column form, ``.batch(predictions, references)``, that returns a float64 numpy array; metrics that
can do better than a Python loop (ANLS) supply their own.

The registry is the `vlmbench.metrics` entry-point group (this project's `pyproject.toml` lists its own
metrics there; another package may add more). Names are read from the entry points without importing
any metric, so validating a task stays cheap; a metric's module is imported when the metric is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


ScoreFn = Callable[[str, list[str]], float]
BatchFn = Callable[[Sequence[str], Sequence[Sequence[str]]], "np.ndarray"]
ENTRY_POINT_GROUP = "vlmbench.metrics"


class UnknownMetricError(KeyError):
    """Raised by `get_metric` for a name that is not registered."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


def as_reference_list(references: str | Sequence[str]) -> list[str]:
    """Accept a bare string as a single reference (a str is a Sequence[str] of characters otherwise)."""
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ValueError("a prediction needs at least one reference")
    return refs


@dataclass(frozen=True)
class Metric:
    """A named per-sample metric: ``metric(prediction, references) -> float``."""

    name: str
    description: str
    higher_is_better: bool
    score_fn: ScoreFn
    batch_fn: BatchFn | None = None
    # The worst score the metric gives (0 for accuracies, the cap of an error rate): reports use it to
    # tell which end of the scale is bad. A failed prediction is scored as an empty answer, not with this.
    worst_value: float = 0.0

    def __call__(self, prediction: str, references: str | Sequence[str]) -> float:
        return float(self.score_fn(prediction, as_reference_list(references)))

    def batch(self, predictions: Sequence[str], references: Sequence[str | Sequence[str]]) -> np.ndarray:
        """Score a whole column: one float64 per (prediction, references) row."""
        import numpy as np

        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
        if self.batch_fn is not None:
            return self.batch_fn(predictions, references)
        return np.fromiter(
            (self(p, r) for p, r in zip(predictions, references, strict=True)),
            dtype=np.float64,
            count=len(predictions),
        )


@cache
def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {point.name: point for point in metadata.entry_points(group=ENTRY_POINT_GROUP)}


@cache
def get_metric(name: str) -> Metric:
    """The registered metric called `name`; `UnknownMetricError` (a KeyError) lists the known names."""
    points = _entry_points()
    if name not in points:
        known = ", ".join(list_metrics())
        raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {known}")
    metric = points[name].load()
    if not isinstance(metric, Metric) or metric.name != name:
        raise TypeError(f"entry point {name!r} ({points[name].value}) is not a Metric named {name!r}")
    return metric


def list_metrics() -> list[str]:
    """Names of all registered metrics, sorted (no metric is imported)."""
    return sorted(_entry_points())
