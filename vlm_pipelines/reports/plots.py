"""Matplotlib plots for reports (PNG, headless)."""

from __future__ import annotations

import base64
import functools
import io
import math
from pathlib import Path

import polars as pl


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_with_ci(table: pl.DataFrame, label_column: str, title: str, path: Path) -> Path:
    """Horizontal bars of `mean` with `ci_low`..`ci_high` error bars, one per row of `table`."""
    path.write_bytes(
        _bar_png(
            tuple(str(value) for value in table[label_column].to_list()),
            tuple(table["mean"].to_list()),
            tuple(table["ci_low"].fill_null(math.nan).to_list()),  # a missing bound draws no error bar
            tuple(table["ci_high"].fill_null(math.nan).to_list()),
            title,
        )
    )
    return path


@functools.lru_cache(maxsize=256)
def _bar_png(
    labels: tuple[str, ...],
    means: tuple[float, ...],
    lows: tuple[float, ...],
    highs: tuple[float, ...],
    title: str,
) -> bytes:
    """The PNG of `bar_with_ci`; the same figures are drawn once per process (a leaderboard rebuilt after one
    task's new result redraws only that task's plot)."""
    plt = pyplot()
    height = max(2.0, 0.35 * len(labels) + 1.0)
    figure, axis = plt.subplots(figsize=(7, height))
    # Asymmetric errors as nested lists: a (2, n) numpy array trips a NumPy deprecation inside matplotlib.
    errors = [
        [m - low for m, low in zip(means, lows, strict=True)],
        [h - m for m, h in zip(means, highs, strict=True)],
    ]
    axis.barh(range(len(labels)), means, xerr=errors, color="#4c78a8", ecolor="#333", capsize=3)
    axis.set_xlim(
        min([0.0, *(low for low in lows if not math.isnan(low))]),
        max([1.0, *(high for high in highs if not math.isnan(high))]),
    )
    axis.set_yticks(range(len(labels)), labels)
    axis.invert_yaxis()
    axis.set_xlabel("mean (95% bootstrap CI)")
    axis.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def score_histogram(scores: pl.DataFrame, metrics: list[str], title: str, path: Path) -> Path:
    """One histogram of per-sample scores per metric, side by side."""
    values = tuple(tuple(scores[metric].drop_nulls().to_list()) for metric in metrics)
    path.write_bytes(_histogram_png(tuple(metrics), values, title))
    return path


@functools.lru_cache(maxsize=64)
def _histogram_png(metrics: tuple[str, ...], values: tuple[tuple[float, ...], ...], title: str) -> bytes:
    """The PNG of `score_histogram`, drawn once per process for the same figures (a rerun's report); fewer
    kept than bar charts, whose keys are a few means, where these hold every score."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 2.8), squeeze=False)
    for axis, metric, column in zip(axes[0], metrics, values, strict=True):
        axis.hist(column, bins=20, color="#f58518")
        axis.set_title(metric)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def png_data_uri(path: Path) -> str:
    """A PNG file as a data URI, to embed it in a page that must stand alone."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
