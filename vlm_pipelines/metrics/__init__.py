"""Evaluation metrics: plain Python, no Dagster.

``get_metric(name)`` returns a `Metric`: ``metric(prediction, references) -> float`` for one sample and
``metric.batch(predictions, references) -> numpy array`` for a column. One module per metric family; the
`vlmbench.metrics` entry points (pyproject.toml) name them, so importing this package imports none.
"""

from vlm_pipelines.metrics.registry import Metric, UnknownMetricError, get_metric, list_metrics

__all__ = ["Metric", "UnknownMetricError", "get_metric", "list_metrics"]
