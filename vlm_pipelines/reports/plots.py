"""Matplotlib plots for reports (PNG, headless)."""

from __future__ import annotations

import base64
from pathlib import Path

import polars as pl


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_with_ci(table: pl.DataFrame, label_column: str, title: str, path: Path) -> Path:
    """Horizontal bars of `mean` with `ci_low`..`ci_high` error bars, one per row of `table`."""
    plt = pyplot()
    labels = [str(value) for value in table[label_column].to_list()]
    means = table["mean"].to_numpy()
    lower = means - table["ci_low"].to_numpy()
    upper = table["ci_high"].to_numpy() - means
    height = max(2.0, 0.35 * len(labels) + 1.0)
    figure, axis = plt.subplots(figsize=(7, height))
    # Asymmetric errors as nested lists: a (2, n) numpy array trips a NumPy deprecation inside matplotlib.
    errors = [lower.tolist(), upper.tolist()]
    axis.barh(range(len(labels)), means, xerr=errors, color="#4c78a8", ecolor="#333", capsize=3)
    axis.set_xlim(min(0.0, float(table["ci_low"].min())), max(1.0, float(table["ci_high"].max())))
    axis.set_yticks(range(len(labels)), labels)
    axis.invert_yaxis()
    axis.set_xlabel("mean (95% bootstrap CI)")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def score_histogram(scores: pl.DataFrame, metrics: list[str], title: str, path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 2.8), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        axis.hist(scores[metric].drop_nulls().to_numpy(), bins=20, color="#f58518")
        axis.set_title(metric)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def png_data_uri(path: Path) -> str:
    """A PNG file as a data URI, to embed it in a page that must stand alone."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
