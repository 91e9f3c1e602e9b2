"""Aggregate per-sample scores: group means with bootstrap confidence intervals and paired model
comparisons. Plain polars + numpy, no Dagster (tables are formatted in `reports.tables`).

Nulls: a null (or NaN) score is dropped and `n` reports how many scores were used. Failed predictions
should be scored by the caller before they get here (for example with ``Metric.worst_value``), so
that a model is not rewarded for failing.

Bootstrap: percentile bootstrap of the mean. Every (group, metric) cell uses a fresh generator seeded
with `seed`, so its interval depends only on its own scores and the seed, not on the other groups.

Paired comparison (`paired_difference`, `compare_with_best`): samples sorted by id, the bootstrap
interval of the mean difference, an exact sign-flip test when few samples differ and the bootstrap test
above, Holm's correction across the comparisons of one table, and a verdict that names the better model.
See docs/metrics.md, "Paired comparison".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

# Resample in chunks so that the (n_boot x n) index matrix stays below about this many entries.
_MAX_RESAMPLE_ENTRIES = 4_000_000


def bootstrap_means(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """The means of `n_boot` resamples (with replacement) of `values` (at least one value)."""
    n = len(values)
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _MAX_RESAMPLE_ENTRIES // n)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows_per_chunk):
        rows = min(rows_per_chunk, n_boot - start)
        resample = rng.integers(0, n, size=(rows, n))
        means[start : start + rows] = values[resample].mean(axis=1)
    return means


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (at least one value)."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    tail = (1 - ci) / 2
    low, high = np.quantile(bootstrap_means(values, n_boot=n_boot, seed=seed), [tail, 1 - tail])
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
    """Model A vs model B on the samples both scored. `diff` is mean(A - B) and the interval its paired
    percentile bootstrap, shown as a description; the verdict comes from the test (`method`, `p_value`),
    after Holm's correction (`p_holm`) when the comparison is one of a family (`compare_with_best`)."""

    score_column: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    ci: float
    higher_is_better: bool
    p_value: float
    method: str
    p_holm: float  # Holm-adjusted across `family` comparisons; p_value for a comparison on its own
    name_a: str = "A"
    name_b: str = "B"
    family: int = 1

    @property
    def alpha(self) -> float:
        """The test's level, the complement of the interval's: 0.05 for a 95% interval."""
        return 1 - self.ci

    @property
    def significant(self) -> bool:
        return self.p_holm < self.alpha and self.diff != 0

    @property
    def a_better(self) -> bool:
        """True when the (Holm-adjusted) test rejects equality and A's mean is on the better side."""
        return self.significant and (self.diff > 0) == self.higher_is_better

    @property
    def b_better(self) -> bool:
        return self.significant and not self.a_better

    @property
    def verdict(self) -> str:
        """'<A's name> better', '<B's name> better' or 'no significant difference' at level `alpha`."""
        if self.a_better:
            return f"{self.name_a} better"
        if self.b_better:
            return f"{self.name_b} better"
        return "no significant difference"


@functools.cache
def _sign_vectors(length: int) -> np.ndarray:
    """Every sign vector in {-1, +1}^length, one per row (2^length rows)."""
    bits = (np.arange(2**length)[:, None] >> np.arange(length)) & 1
    return (1 - 2 * bits).astype(np.float64)


def sign_flip_p_value(differences: np.ndarray) -> float:
    """Exact two-sided p-value of the paired permutation (sign-flip) test of mean(differences) = 0.

    Under the null the two scores of a sample are exchangeable, so each difference is equally likely to
    have either sign: the p-value is the share of the 2^m sign vectors whose |sum| reaches the observed
    |sum|, m being the number of nonzero differences (a zero difference is the same under both signs and
    does not change the share). It equals ``scipy.stats.permutation_test(..., permutation_type="samples")``
    in its exact mode; the 2^m sums are counted by meet-in-the-middle (two halves of 2^(m/2) each), so
    m up to 32 takes milliseconds. Differences all of one sign give p = 2 / 2^m: 1.0, 0.5, 0.25, 0.125,
    0.0625 for m = 1..5, so fewer than 6 samples that differ never give p < 0.05.
    """
    nonzero = differences[differences != 0]
    m = len(nonzero)
    observed = abs(float(nonzero.sum()))
    tolerance = 1e-9 * float(np.abs(nonzero).sum())  # sums equal up to rounding count as reaching it
    if m == 0 or observed <= tolerance:
        return 1.0
    threshold = observed - tolerance
    left = _sign_vectors(m // 2) @ nonzero[: m // 2]
    right = np.sort(_sign_vectors(m - m // 2) @ nonzero[m // 2 :])
    at_or_above = len(right) - np.searchsorted(right, threshold - left, side="left")
    at_or_below = np.searchsorted(right, -threshold - left, side="right")
    return float((at_or_above.sum() + at_or_below.sum()) / 2.0**m)


def random_sign_flip_p_value(differences: np.ndarray, n_flips: int = 9999, seed: int = 0) -> float:
    """Two-sided p-value of the sign-flip test from `n_flips` random sign vectors instead of all 2^m:
    (1 + the number reaching the observed |sum|) / (1 + n_flips). Counting the observed vector among them
    keeps the test at its level for any `n_flips` (Phipson & Smyth 2010, "Permutation p-values should
    never be zero"); the p-value differs from the exact one by about sqrt(p(1 - p) / n_flips)."""
    nonzero = differences[differences != 0]
    observed = abs(float(nonzero.sum()))
    tolerance = 1e-9 * float(np.abs(nonzero).sum())
    if len(nonzero) == 0 or observed <= tolerance:
        return 1.0
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _MAX_RESAMPLE_ENTRIES // len(nonzero))
    reached = 0
    for start in range(0, n_flips, rows_per_chunk):
        rows = min(rows_per_chunk, n_flips - start)
        signs = rng.integers(0, 2, size=(rows, len(nonzero))) * 2.0 - 1
        reached += int((np.abs(signs @ nonzero) >= observed - tolerance).sum())
    return (reached + 1) / (n_flips + 1)


# Up to this many samples whose two scores differ, the exact sign-flip test (2^m sign vectors, a few
# milliseconds); above it, random sign vectors.
EXACT_MAX_DIFFERING = 32


def paired_test(
    differences: np.ndarray, exact_max: int = EXACT_MAX_DIFFERING, n_flips: int = 9999, seed: int = 0
) -> tuple[float, str]:
    """(p-value, method) of the sign-flip test of mean(differences) = 0: exact when at most `exact_max`
    differences are nonzero, else from `n_flips` random sign vectors."""
    if int((differences != 0).sum()) <= exact_max:
        return sign_flip_p_value(differences), "exact sign-flip test"
    p_value = random_sign_flip_p_value(differences, n_flips=n_flips, seed=seed)
    return p_value, f"sign-flip test, {n_flips} random signs"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (Holm, S. 1979, "A simple sequentially
    rejective multiple test procedure", Scandinavian Journal of Statistics 6(2): 65-70).

    The i-th smallest of k p-values is multiplied by k - i + 1 and made non-decreasing; rejecting every
    adjusted p-value below alpha keeps the family-wise error rate at alpha under any dependence. Equal to
    statsmodels' ``multipletests(p, method="holm")[1]``.
    """
    k = len(p_values)
    adjusted = [0.0] * k
    running = 0.0
    for rank, index in enumerate(sorted(range(k), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (k - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def score_matrix(
    frames: Mapping[str, pl.DataFrame], score_column: str, on: str | Sequence[str] = "sample_id"
) -> np.ndarray:
    """One column of scores per frame (NaN where a frame has no score), one row per sample of any frame,
    sorted by `on`, so that nothing computed from it depends on the frames' row order."""
    keys = [on] if isinstance(on, str) else list(on)
    wide = None
    for index, (name, frame) in enumerate(frames.items()):
        if frame.select(keys).is_duplicated().any():
            raise ValueError(f"frame {name} has repeated {keys} values; pairing would be ambiguous")
        part = frame.select(*keys, pl.col(score_column).cast(pl.Float64).alias(str(index)))
        wide = part if wide is None else wide.join(part, on=keys, how="full", coalesce=True)
    scores = wide.sort(keys).select(pl.exclude(keys).fill_null(float("nan")))
    return scores.to_numpy().astype(np.float64)


def _compare(
    a: np.ndarray,
    b: np.ndarray,
    score_column: str,
    n_boot: int,
    seed: int,
    ci: float,
    higher_is_better: bool,
    names: tuple[str, str],
    exact_max: int,
    n_flips: int,
) -> PairedComparison:
    both = ~(np.isnan(a) | np.isnan(b))
    if not both.any():
        raise ValueError(f"no sample has a {score_column!r} score in both frames")
    a, b = a[both], b[both]
    differences = a - b
    means = bootstrap_means(differences, n_boot=n_boot, seed=seed)
    tail = (1 - ci) / 2
    ci_low, ci_high = (float(q) for q in np.quantile(means, [tail, 1 - tail]))
    p_value, method = paired_test(differences, exact_max=exact_max, n_flips=n_flips, seed=seed)
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
        p_value=p_value,
        method=method,
        p_holm=p_value,
        name_a=names[0],
        name_b=names[1],
    )


def paired_difference(
    df_a: pl.DataFrame,
    df_b: pl.DataFrame,
    score_column: str,
    on: str | Sequence[str] = "sample_id",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    higher_is_better: bool = True,
    names: tuple[str, str] = ("A", "B"),
    exact_max: int = EXACT_MAX_DIFFERING,
    n_flips: int = 9999,
) -> PairedComparison:
    """Paired comparison of mean(A - B) over the samples present, with a score, in both frames.

    The samples are sorted by `on` before pairing (`score_matrix`), so the result never depends on the
    row order. The interval is the paired percentile bootstrap of the mean difference (`n_boot`
    resamples, equal to ``scipy.stats.bootstrap(..., method="percentile")`` in distribution). The test,
    which alone decides the verdict, is the sign-flip permutation test of mean(A - B) = 0 (`paired_test`):
    exact when at most `exact_max` samples differ, else from `n_flips` random sign vectors. The bootstrap
    is not used as the test: on ANLS-like scores its false-positive rate at a nominal 5% is 15% at n = 5,
    11% at n = 10, 7.5% at n = 24 and 5.3% at n = 100 (docs/metrics.md). Pass ``higher_is_better=False`` for error
    rates so that the verdict reads the right way round, and `names` to have it name the models.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    scores = score_matrix({"A": df_a, "B": df_b}, score_column, on)
    return _compare(
        scores[:, 0],
        scores[:, 1],
        score_column,
        n_boot,
        seed,
        ci,
        higher_is_better,
        names,
        exact_max,
        n_flips,
    )


def compare_with_best(
    frames: Mapping[str, pl.DataFrame],
    best: str,
    score_column: str,
    on: str | Sequence[str] = "sample_id",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    higher_is_better: bool = True,
    exact_max: int = EXACT_MAX_DIFFERING,
    n_flips: int = 9999,
) -> list[PairedComparison]:
    """The best model against each other model of `frames` (in their order), with Holm's correction.

    The best is picked from the same scores, so its comparisons are the most extreme of all pairs: Holm
    across only these k - 1 comparisons lets 5 equal models show a "better" verdict about 9% of the time
    at a nominal 5%. The correction therefore runs across all k(k - 1)/2 pairs of models (`family` on
    each result), which holds the family-wise rate whichever model turns out best.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    names = list(frames)
    scores = score_matrix(frames, score_column, on)
    column = dict(zip(names, scores.T, strict=True))
    comparisons = [
        _compare(
            column[best],
            column[name],
            score_column,
            n_boot,
            seed,
            ci,
            higher_is_better,
            (best, name),
            exact_max,
            n_flips,
        )
        for name in names
        if name != best
    ]
    others = []  # the pairs without the best model count in the family but are not shown
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            if best in (x, y):
                continue
            both = ~(np.isnan(column[x]) | np.isnan(column[y]))
            differences = column[x][both] - column[y][both]
            others.append(paired_test(differences, exact_max, n_flips, seed)[0] if both.any() else 1.0)
    adjusted = holm([c.p_value for c in comparisons] + others)
    return [
        replace(c, p_holm=p, family=len(adjusted))
        for c, p in zip(comparisons, adjusted[: len(comparisons)], strict=True)
    ]
