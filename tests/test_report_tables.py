"""The one table formatter (`reports.tables`): Markdown, cells, and the HTML the templates render."""

from __future__ import annotations

import polars as pl

from vlm_pipelines.reports.tables import cell_text, markdown_table, render


def test_markdown_table():
    df = pl.DataFrame(
        {"model": ["m|1", None], "metric": ["anls", "cer"], "mean": [0.12345, None], "n": [10, 0]}
    )
    assert markdown_table(df, digits=2) == (
        "| model | metric | mean | n |\n"
        "| :--- | :--- | ---: | ---: |\n"
        "| m\\|1 | anls | 0.12 | 10 |\n"
        "|  | cer |  | 0 |\n"
    )


def test_cells_read_the_same_everywhere() -> None:
    assert cell_text(0.5) == "0.500"
    assert cell_text(float("nan")) == "nan"
    assert cell_text(None) == ""
    assert cell_text(["a", "b"]) == "a | b"
    assert cell_text(True) == "yes"
    assert cell_text(3) == "3"


def test_html_tables_escape_cells_and_right_align_numbers() -> None:
    frame = pl.DataFrame({"prediction": ["<script>alert(1)</script>"], "anls": [0.25]})
    html = render("macros.html.j2")  # the macros render nothing by themselves
    assert html.strip() == ""
    from vlm_pipelines.reports.tables import environment

    table = environment().get_template("macros.html.j2").module.table(frame)
    assert "&lt;script&gt;" in str(table) and "<script>" not in str(table)
    assert '<td class="num">0.250</td>' in str(table)


def test_a_markdown_cell_cannot_load_an_image_or_carry_markup() -> None:
    """Cells hold model output and document text: `![](url)` or `<img>` there must not reach a reader's
    browser as an image (report.md, Dagster metadata)."""
    import markdown_it

    cell = "![x](http://127.0.0.1:9/t.png) <img src=http://127.0.0.1:9/u.png> 0.5 [0.1, 0.9]"
    html = (
        markdown_it.MarkdownIt("commonmark")
        .enable("table")
        .render(markdown_table(pl.DataFrame({"raw answer": [cell]})))
    )
    assert "<img" not in html and "0.5 [0.1, 0.9]" in html
