"""Matplotlib plots for reports (PNG, headless).

Figures are made with `matplotlib.figure.Figure`, not pyplot: no global figure registry, so reports can be
drawn from any thread, and nothing needs closing."""

from __future__ import annotations

import base64
import functools
import io
import math
from pathlib import Path

import polars as pl

HISTOGRAM_BINS = 20
# The histograms' fixed margins, in inches (their titles are metric names and their tick labels counts and
# scores, so they need no measuring: `tight_layout` drew each figure twice, 40% of its time).
HISTOGRAM_PANEL_IN = (3.2, 2.8)  # width per metric, height
HISTOGRAM_MARGINS_IN = {"left": 0.5, "right": 0.15, "bottom": 0.35, "top": 0.75, "gap": 0.55}


def load_plotting() -> None:
    """Imports what drawing a PNG needs (about a second; the runner does it while a model answers)."""
    import matplotlib.backends.backend_agg  # noqa: F401 - what `savefig` draws PNGs with
    import matplotlib.figure  # noqa: F401


def figure(**options):
    """A new figure, drawn to PNG by Agg."""
    from matplotlib.figure import Figure

    return Figure(**options)


def png_bytes(drawn) -> bytes:
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


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
    drawn = figure(figsize=(7, max(2.0, 0.35 * len(labels) + 1.0)))
    axis = drawn.subplots()
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
    drawn.tight_layout()  # the labels are model names of any length
    return png_bytes(drawn)


def score_histogram(scores: pl.DataFrame, metrics: list[str], title: str, path: Path) -> Path:
    """One histogram of per-sample scores per metric, side by side."""
    values = tuple(tuple(scores[metric].drop_nulls().to_list()) for metric in metrics)
    path.write_bytes(_histogram_png(tuple(metrics), values, title))
    return path


@functools.lru_cache(maxsize=64)
def _histogram_png(metrics: tuple[str, ...], values: tuple[tuple[float, ...], ...], title: str) -> bytes:
    """The PNG of `score_histogram`, drawn once per process for the same figures (a rerun's report); fewer
    kept than bar charts, whose keys are a few means, where these hold every score. Each histogram is one
    filled outline (`stairs`), not a patch per bin."""
    import numpy as np

    panel_width, height = HISTOGRAM_PANEL_IN
    width = panel_width * len(metrics)
    margins = HISTOGRAM_MARGINS_IN
    gaps = margins["gap"] * (len(metrics) - 1)
    panel = (width - margins["left"] - margins["right"] - gaps) / len(metrics)  # one axis's width
    layout = {
        "left": margins["left"] / width,
        "right": 1 - margins["right"] / width,
        "bottom": margins["bottom"] / height,
        "top": 1 - margins["top"] / height,
        "wspace": margins["gap"] / panel,
    }
    drawn = figure(figsize=(width, height))
    axes = drawn.subplots(1, len(metrics), squeeze=False, gridspec_kw=layout)[0]
    for axis, metric, column in zip(axes, metrics, values, strict=True):
        scores = np.asarray(column, dtype=float)
        counts, edges = np.histogram(scores[np.isfinite(scores)], bins=HISTOGRAM_BINS)
        axis.stairs(counts, edges, fill=True, color="#f58518")
        axis.set_title(metric)
    drawn.suptitle(title)
    return png_bytes(drawn)


def png_data_uri(path: Path) -> str:
    """A PNG file as a data URI, to embed it in a page that must stand alone."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
