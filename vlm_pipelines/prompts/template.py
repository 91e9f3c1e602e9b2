"""Jinja prompt templates: strict (an unknown variable is an error) and sandboxed."""

from __future__ import annotations

import functools

import jinja2
from jinja2.sandbox import SandboxedEnvironment

# What a template may use. The reference answers are deliberately not offered.
TEMPLATE_VARIABLES: tuple[str, ...] = (
    "question",
    "doc_type",
    "field_name",
    "split",
    "metadata",
    "image_count",
    "sample_id",
)

_ENVIRONMENT = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=512)  # a prompt is compiled once per process, not once per sample set
def compile_template(text: str) -> jinja2.Template:
    """The compiled template; ValueError with the line number when the syntax is wrong."""
    try:
        return _ENVIRONMENT.from_string(text)
    except jinja2.TemplateSyntaxError as error:
        raise ValueError(f"Jinja syntax error on template line {error.lineno}: {error.message}") from error
