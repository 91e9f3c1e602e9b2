"""Named clean-up steps applied to a model's answer before scoring.

    postprocess("Фамилия: ОСИПОВ", ["strip_label", "normalize_whitespace"], field_name="Фамилия") == "ОСИПОВ"

A task lists the steps it wants, in order (`postprocess:` in its YAML): the names in `STEPS`, or a
function `(text, field_name) -> str` from an installed package, as `package.module:function` or as an
entry point in the `vlmbench.postprocess` group (see `vlm_pipelines.plugins`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rapidfuzz import fuzz

Step = Callable[[str, str | None], str]

# A label that fuzzily matches the field name (casefolded token-set ratio) is an echoed label.
LABEL_MATCH_THRESHOLD = 85.0
# A label that does not match the field name is only stripped before ":" and when it is this short.
MAX_GENERIC_LABEL_WORDS = 4
MAX_GENERIC_LABEL_CHARS = 40

_SEPARATOR = re.compile(r":|\s+[-–—]\s+")
_ANSWER_MARKER = re.compile(r"answer\s*:", re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "'": "'", "«": "»", "“": "”", "„": "“", "`": "`"}


def _matches_field(label: str, field_name: str | None) -> bool:
    if not field_name:
        return False
    return fuzz.token_set_ratio(label.casefold(), field_name.casefold()) >= LABEL_MATCH_THRESHOLD


def _is_generic_label(label: str) -> bool:
    words = label.split()
    return (
        0 < len(words) <= MAX_GENERIC_LABEL_WORDS
        and len(label) <= MAX_GENERIC_LABEL_CHARS
        and any(character.isalpha() for character in label)
        and not any(character.isdigit() for character in label)
    )


def strip_label(text: str, field_name: str | None = None) -> str:
    """`Фамилия: ОСИПОВ` -> `ОСИПОВ`; `Отчество - Игоревич` -> `Игоревич` (field name `Отчество`).

    The text before the first `:`, ` - `, ` – ` or ` — ` is a label when it fuzzily matches the field name.
    Before `:` any short label without digits counts too (`Answer: x`, but not `12:30`). Before a dash
    a label that is not the field name counts only when no field name is known and it is one word, so
    `респ. Северная Осетия - Алания` keeps its dash.
    """
    stripped = text.strip()
    match = _SEPARATOR.search(stripped)
    if match is None:
        return text
    label, value = stripped[: match.start()].strip(), stripped[match.end() :].strip()
    if not label or "\n" in label or not value or value.startswith("//"):  # "//": a URL, not a label
        return text
    if _matches_field(label, field_name):
        return value
    if match.group() == ":":
        return value if _is_generic_label(label) else text
    return value if field_name is None and len(label.split()) == 1 and label.isalpha() else text


def after_answer_marker(text: str, field_name: str | None = None) -> str:
    """The text after the last `ANSWER:` (any case), or the text unchanged when there is none."""
    markers = list(_ANSWER_MARKER.finditer(text))
    return text[markers[-1].end() :].strip() if markers else text


def normalize_whitespace(text: str, field_name: str | None = None) -> str:
    """Every run of whitespace (newlines, tabs, no-break spaces) becomes one space; ends trimmed."""
    return " ".join(text.split())


def strip_quotes(text: str, field_name: str | None = None) -> str:
    """Removes quotes wrapping the whole answer: `"ОСИПОВ"`, `«Татэнерго»`; inner quotes stay."""
    stripped = text.strip()
    while len(stripped) >= 2 and _QUOTE_PAIRS.get(stripped[0]) == stripped[-1]:
        inner = stripped[1:-1]
        if stripped[0] in inner or stripped[-1] in inner:  # «A» и «B»: not one quoted answer
            break
        stripped = inner.strip()
    return stripped


def lowercase(text: str, field_name: str | None = None) -> str:
    return text.lower()


STEPS: dict[str, Step] = {
    "strip_label": strip_label,
    "after_answer_marker": after_answer_marker,
    "normalize_whitespace": normalize_whitespace,
    "strip_quotes": strip_quotes,
    "lowercase": lowercase,
}
KNOWN_STEPS: tuple[str, ...] = tuple(STEPS)


def step_function(step: str) -> Step:
    """The function a step name or reference stands for; ValueError when there is none."""
    if step in STEPS:
        return STEPS[step]
    from vlm_pipelines.plugins import POSTPROCESS_GROUP, is_reference, load_callable

    if is_reference(step) or step in _plugin_step_names():
        return load_callable(step, POSTPROCESS_GROUP)
    raise ValueError(
        f"unknown post-processing step {step!r}; known steps: {', '.join(KNOWN_STEPS)}, or a "
        "`package.module:function` path, or an entry point in 'vlmbench.postprocess'"
    )


def _plugin_step_names() -> set[str]:
    from importlib import metadata

    from vlm_pipelines.plugins import POSTPROCESS_GROUP

    return {point.name for point in metadata.entry_points(group=POSTPROCESS_GROUP)}


def check_steps(steps: Sequence[str]) -> None:
    """ValueError naming every unknown step and listing the known ones."""
    unknown = [step for step in steps if step not in STEPS and not _resolves(step)]
    if unknown:
        raise ValueError(
            f"unknown post-processing step(s) {unknown}; known steps: {', '.join(KNOWN_STEPS)}, or a "
            "`package.module:function` path, or an entry point in 'vlmbench.postprocess'"
        )


def _resolves(step: str) -> bool:
    try:
        step_function(step)
    except ValueError:
        return False
    return True


def postprocess(text: str, steps: Sequence[str], *, field_name: str | None = None) -> str:
    """Applies the steps in order. `field_name` helps `strip_label` recognise an echoed label."""
    check_steps(steps)
    for step in steps:
        text = step_function(step)(text, field_name)
    return text
