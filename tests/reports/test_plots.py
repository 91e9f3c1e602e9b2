"""The bar plot draws a row whose interval is missing (one sample: no bootstrap interval), as it did before
plots were drawn once per process."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from PIL import Image

from vlm_pipelines.reports.plots import bar_with_ci


def test_a_row_without_an_interval_is_drawn_and_the_same_figures_give_the_same_png(tmp_path: Path) -> None:
    table = pl.DataFrame(
        {"model": ["one sample", "many"], "mean": [0.5, 0.7], "ci_low": [None, 0.6], "ci_high": [None, 0.8]}
    )
    first = bar_with_ci(table, "model", "task: metric", tmp_path / "first.png")
    again = bar_with_ci(table, "model", "task: metric", tmp_path / "again.png")
    with Image.open(first) as image:
        assert image.format == "PNG" and image.width > 0
    assert first.read_bytes() == again.read_bytes()
