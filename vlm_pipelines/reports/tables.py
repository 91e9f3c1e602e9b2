"""The one table formatter: how a cell reads, as Markdown, in HTML (through the templates) and on the
console. Floats get a fixed number of digits, lists are joined with ' | ', None is blank."""

from __future__ import annotations

import math
from functools import cache

import jinja2
import polars as pl

from vlm_pipelines.reports.plots import png_data_uri


def cell_text(value: object, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return " | ".join(cell_text(item, digits) for item in value)
    return str(value)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def markdown_table(frame: pl.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table; numeric columns right-aligned, floats to `digits`."""

    def escape(text: str) -> str:  # cells hold model output and document text: no markup, no remote images
        text = text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
        return text.replace("![", "!\\[").replace("](", "]\\(")

    header = [escape(name) for name in frame.columns]
    align = ["---:" if dtype.is_numeric() else ":---" for dtype in frame.dtypes]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(escape(cell_text(value, digits)) for value in row) + " |")
    return "\n".join(lines) + "\n"


@cache
def environment() -> jinja2.Environment:
    """The report templates (`reports/templates/*.j2`); HTML templates autoescape. One per process, so each
    template is compiled once (and again when its file changes)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vlm_pipelines.reports", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = cell_text
    env.filters["markdown_table"] = markdown_table
    env.filters["png_data_uri"] = png_data_uri
    env.tests["number"] = is_number
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
