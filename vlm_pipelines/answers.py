"""Reading a model's answer as the task's answer type: text, a label, a JSON object or a page order.

The one place that pulls JSON, labels and permutations out of free model output; the metrics and the
scoring step both use it. Each reader says whether the answer *parsed*: the parse rate is reported
beside every score, and an unparsed answer is scored as documented by its metric, never guessed.

- **label** (classification, multiple choice): VLMEvalKit's `can_infer` rule. With lettered options
  (`{"A": "...", ...}`), a lone option letter names the option (a capital `A` in a longer answer may be
  the article and does not count); failing that, and for plain label sets, the answer names exactly one
  label (or option text), matched case-insensitively on word boundaries (`_` reads as a space, so
  `bank_statement` matches "bank statement"). Two labels named, or none: unparsed. There is no random
  fallback.
- **json**: the first JSON object in the answer; a ```json fence (closed or not) is looked into first,
  and prose around the JSON is allowed.
- **order**: a permutation written as a JSON list (`[2, 0, 1]`) or as separated integers (`2, 0, 1`,
  `2 0 1`, `2 -> 0 -> 1`). 0-based indices are expected; an answer that is a permutation of 1..n (and so
  not of 0..n-1) is read as 1-based and shifted down by one. Anything else is unparsed.
- **text**: the answer as is; it parsed when it is not empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

ANSWER_TYPES = ("text", "label", "json", "order")

_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_OPTION_PUNCTUATION = ".()[],:;!*#{}"
_SEPARATED_INTEGERS = re.compile(r"^\s*[\[(]?\s*(\d+(?:\s*(?:,|;|->|→|>|\s)\s*\d+)*)\s*[\])]?\s*\.?\s*$")


class Extracted(NamedTuple):
    """The answer to score (the parsed value in canonical form, else the text as given) and whether it
    parsed into the task's answer type."""

    text: str
    parsed: bool


# ---- JSON ---------------------------------------------------------------------------------------


def _first_json(text: str, want: type | tuple[type, ...]) -> Any | None:
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        pass
    else:
        if isinstance(value, want):
            return value
    decoder = json.JSONDecoder()
    for start, character in enumerate(stripped):
        if character in "{[":
            try:
                value, _ = decoder.raw_decode(stripped, start)
            except (ValueError, RecursionError):
                continue
            if isinstance(value, want):
                return value
    return None


def extract_json(text: str, want: type | tuple[type, ...] = (dict, list)) -> Any | None:
    """The first JSON value of type `want` in `text`: inside a ```json fence when there is one, else
    anywhere in the text (prose around it allowed). None when there is none."""
    for candidate in [match.group(1) for match in _FENCE.finditer(text)] + [text]:
        value = _first_json(candidate, want)
        if value is not None:
            return value
    return None


def extract_json_object(text: str) -> dict[str, Any] | None:
    return extract_json(text, dict)


def canonical_json(value: Any) -> str:
    """Sorted keys, UTF-8 kept: the same value always gives the same text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# ---- page order ---------------------------------------------------------------------------------


def read_integers(text: str) -> list[int] | None:
    """The integers of a JSON list or of separated integers (`2, 0, 1`), as written; else None."""
    listed = extract_json(text, list)
    if listed is not None:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in listed):
            return list(listed)
        if all(isinstance(item, str) and item.strip().isdigit() for item in listed):
            return [int(item) for item in listed]
        return None
    match = _SEPARATED_INTEGERS.match(text)
    if match is None:
        return None
    return [int(number) for number in re.findall(r"\d+", match.group(1))]


def parse_order(text: str, n_items: int | None = None) -> list[int] | None:
    """The 0-based permutation written in `text` (see the module docstring), or None.

    `n_items` is the number of items (pages) when known; otherwise the answer's own length is used."""
    items = read_integers(text)
    if not items:
        return None
    n = n_items if n_items is not None else len(items)
    if len(items) != n:
        return None
    if sorted(items) == list(range(n)):
        return items
    if sorted(items) == list(range(1, n + 1)):
        return [item - 1 for item in items]
    return None


# ---- labels and options -------------------------------------------------------------------------


def _option_letter(text: str, letters: Sequence[str]) -> str | None:
    """VLMEvalKit's `can_infer_option`: exactly one option letter stands alone among the words."""
    cleaned = text
    for character in _OPTION_PUNCTUATION:
        cleaned = cleaned.replace(character, " ")
    words = cleaned.split()
    named = [letter for letter in letters if letter in words]
    if len(named) != 1:
        return None
    if named[0] == "A" and len(words) > 3:  # "A" may be the article in a sentence
        return None
    return named[0]


def _label_pattern(label: str) -> re.Pattern[str]:
    words = label.replace("_", " ").split()
    return re.compile(
        r"(?<!\w)" + r"[\s_]+".join(re.escape(word) for word in words) + r"(?!\w)", re.IGNORECASE
    )


def named_labels(text: str, labels: Sequence[str]) -> list[str]:
    """The labels `text` names on word boundaries, case-insensitively, in the order of `labels`."""
    return [label for label in labels if label.strip() and _label_pattern(label).search(text)]


def infer_label(
    text: str, labels: Sequence[str] = (), options: Mapping[str, str] | None = None
) -> str | None:
    """The one label (or option letter) the answer names, or None (see the module docstring)."""
    if options:
        letter = _option_letter(text, list(options))
        if letter is not None:
            return letter
        named = named_labels(text, [str(value) for value in options.values()])
        if len(named) == 1:
            return next(key for key, value in options.items() if str(value) == named[0])
        return None
    named = named_labels(text, labels)
    return named[0] if len(named) == 1 else None


# ---- one entry point ----------------------------------------------------------------------------


def extract_answer(
    answer_type: str,
    text: str,
    *,
    labels: Sequence[str] = (),
    options: Mapping[str, str] | None = None,
    n_items: int | None = None,
) -> Extracted:
    """Reads `text` as `answer_type` (text, label, json, order)."""
    if answer_type == "text":
        return Extracted(text, bool(text.strip()))
    if answer_type == "label":
        label = infer_label(text, labels, options)
        return Extracted(label, True) if label is not None else Extracted(text, False)
    if answer_type == "json":
        value = extract_json_object(text)
        return Extracted(canonical_json(value), True) if value is not None else Extracted(text, False)
    if answer_type == "order":
        order = parse_order(text, n_items)
        return Extracted(json.dumps(order), True) if order is not None else Extracted(text, False)
    raise ValueError(f"unknown answer type {answer_type!r}; use one of {', '.join(ANSWER_TYPES)}")


def sample_choices(
    metadata: Mapping[str, Any], task_labels: Sequence[str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """(labels, lettered options) a sample is answered from: the task's `labels` or the sample's
    `metadata.labels`, and `metadata.options` (VLMEvalKit's A, B, C... columns)."""
    options = metadata.get("options")
    options = {str(key): str(value) for key, value in options.items()} if isinstance(options, dict) else {}
    labels = list(task_labels) if task_labels else [str(label) for label in metadata.get("labels") or []]
    return labels, options
