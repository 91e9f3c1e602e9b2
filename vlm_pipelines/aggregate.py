"""Aggregate per-sample scores: group means with bootstrap confidence intervals and paired model
comparisons. Plain polars + numpy, no Dagster (tables are formatted in `reports.tables`).

Nulls: a null (or NaN) score is dropped and `n` reports how many scores were used. Failed predictions
should be scored by the caller before they get here (for example with ``Metric.worst_value``), so
that a model is not rewarded for failing.

Bootstrap: percentile bootstrap of the mean. Every (group, metric) cell uses a fresh generator seeded
with `seed`, so its interval depends only on its own scores and the seed, not on the other groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

# Resample in chunks so that the (n_boot x n) index matrix stays below about this many entries.
_MAX_RESAMPLE_ENTRIES = 4_000_000


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (at least one value)."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    n = len(values)
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _MAX_RESAMPLE_ENTRIES // n)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows_per_chunk):
        rows = min(rows_per_chunk, n_boot - start)
        resample = rng.integers(0, n, size=(rows, n))
        means[start : start + rows] = values[resample].mean(axis=1)
    tail = (1 - ci) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _clean(values: pl.Series) -> np.ndarray:
    array = values.drop_nulls().cast(pl.Float64).to_numpy()
    return array[~np.isnan(array)]


def group_scores(
    df: pl.DataFrame,
    score_columns: list[str],
    by: list[str],
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> pl.DataFrame:
    """Mean and bootstrap CI of each score column per group.

    Returns one row per (group, metric) with columns ``*by, metric, mean, n, ci_low, ci_high``; groups
    keep their order of first appearance and metrics the order of `score_columns`. An empty `by` gives
    one global row per metric. A cell with no scores has n = 0 and null mean and interval.
    """
    groups = df.partition_by(by, maintain_order=True, as_dict=True) if by else {(): df}
    rows = []
    for key, group in groups.items():
        for column in score_columns:
            values = _clean(group[column])
            if len(values):
                mean = float(values.mean())
                ci_low, ci_high = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed, ci=ci)
            else:
                mean = ci_low = ci_high = None
            rows.append(
                dict(zip(by, key, strict=True))
                | {"metric": column, "mean": mean, "n": len(values), "ci_low": ci_low, "ci_high": ci_high}
            )
    schema = {name: df.schema[name] for name in by} | {
        "metric": pl.String,
        "mean": pl.Float64,
        "n": pl.Int64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


@dataclass(frozen=True)
class PairedComparison:
    """Model A vs model B on the samples both scored. `diff` is mean(A - B)."""

    score_column: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    ci: float
    higher_is_better: bool

    @property
    def a_better(self) -> bool:
        """True when the interval of A - B excludes 0 on A's side."""
        return self.ci_low > 0 if self.higher_is_better else self.ci_high < 0

    @property
    def b_better(self) -> bool:
        return self.ci_high < 0 if self.higher_is_better else self.ci_low > 0

    @property
    def verdict(self) -> str:
        """One of "A better", "B better" or "no significant difference" at the interval's level."""
        if self.a_better:
            return "A better"
        if self.b_better:
            return "B better"
        return "no significant difference"


def paired_difference(
    df_a: pl.DataFrame,
    df_b: pl.DataFrame,
    score_column: str,
    on: str | Sequence[str] = "sample_id",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    higher_is_better: bool = True,
) -> PairedComparison:
    """Paired bootstrap of mean(A - B) over the samples present, with a score, in both frames.

    Pass ``higher_is_better=False`` for error rates so that the verdict reads the right way round.
    """
    keys = [on] if isinstance(on, str) else list(on)
    for name, frame in (("A", df_a), ("B", df_b)):
        if frame.select(keys).is_duplicated().any():
            raise ValueError(f"frame {name} has repeated {keys} values; pairing would be ambiguous")
    paired = (
        df_a.select(*keys, pl.col(score_column).cast(pl.Float64).alias("a"))
        .join(df_b.select(*keys, pl.col(score_column).cast(pl.Float64).alias("b")), on=keys, how="inner")
        .drop_nulls(["a", "b"])
        .filter(pl.col("a").is_not_nan() & pl.col("b").is_not_nan())
    )
    if paired.height == 0:
        raise ValueError(f"no sample has a {score_column!r} score in both frames")
    a = paired["a"].to_numpy()
    b = paired["b"].to_numpy()
    differences = a - b
    ci_low, ci_high = bootstrap_mean_ci(differences, n_boot=n_boot, seed=seed, ci=ci)
    return PairedComparison(
        score_column=score_column,
        n=len(differences),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=float(differences.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        ci=ci,
        higher_is_better=higher_is_better,
    )
