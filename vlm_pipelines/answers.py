"""Reading a model's answer as the task's answer type: text, a label, a JSON object or a page order.

The one place that pulls JSON, labels and permutations out of free model output; the metrics and the
scoring step both use it. Each reader says whether the answer *parsed*: the parse rate is reported
beside every score, and an unparsed answer is scored as documented by its metric, never guessed.

- **label** (classification, multiple choice). With lettered options (`{"A": "...", ...}`) this is
  VLMEvalKit's default matching, `can_infer` with its VERBOSE setting off (`vlmeval/utils/matching_util.py`):
  1. `can_infer_option`: after `.()[],:;!*#{}` become spaces, exactly one option letter (capital) stands
     alone among the words and is one of the last four words (`"B) cat"`, `"The answer is A."`);
  2. failing that, an "answer is X" sentence names the letter (`"The correct answer is **A** because..."`);
  3. failing that, `can_infer_text`: the answer names exactly one option's text, and is at most twice as
     long as all option texts together.
  Deliberate differences from VLMEvalKit, each pinned in tests/test_answers.py and listed in
  docs/metrics.md: option text is matched as whole words, case-insensitively (VLMEvalKit: substrings, so
  "concatenate" names the option "cat"); the "answer is X" letter must stand alone and be a capital unless
  it ends the answer (VLMEvalKit's case-insensitive pattern reads "the answer is clear..." as C), and any
  of the sample's option letters counts (VLMEvalKit: A-D); VLMEvalKit's "Z" (a refusal, or a lone "Z") is
  simply unparsed here - both score 0.
  For plain label sets (no letters) the answer names exactly one label on word boundaries,
  case-insensitively (`_` reads as a space, so `bank_statement` matches "bank statement").
  Two labels named, or none: unparsed, and an unparsed label answer is scored as the empty answer (it
  matches no reference; the raw answer stays in `prediction_raw`). There is no random fallback.
- **json**: the first JSON object in the answer; a ```json fence (closed or not) is looked into first,
  and prose around the JSON is allowed.
- **order**: a list of pages written as a JSON list (`[2, 0, 1]`, `["p2", "p1"]`) or as separated integers
  (`2, 0, 1`, `2 0 1`, `2 -> 0 -> 1`). A permutation of 0..n-1 is kept; a permutation of 1..n (and so not
  of 0..n-1) is 1-based and shifted down by one; n distinct page ids that are not all integers (`["p2",
  "p1"]`) are kept as written. Anything else is unparsed (the page-order metrics still give a partial list
  positional credit). The metrics read the reference's own base (0-based, 1-based or page ids; see
  `vlm_pipelines.metrics.page_order`).
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


def order_item(value: Any) -> int | str | None:
    """One page of an order in comparable form: an integer (`2`, `2.0`, `"2"`), else stripped, casefolded
    text (a page id); None for anything else (null, lists, objects, booleans)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isdigit() else text.casefold() or None
    return None


def read_order_items(text: str) -> list[int | str] | None:
    """The pages of a JSON list (integers or page ids) or of separated integers, as written; else None."""
    listed = extract_json(text, list)
    if listed is not None:
        items = [order_item(item) for item in listed]
        return None if any(item is None for item in items) else items
    match = _SEPARATED_INTEGERS.match(text)
    if match is None:
        return None
    return [int(number) for number in re.findall(r"\d+", match.group(1))]


def order_base(items: Sequence[int | str]) -> int | None:
    """0 for a permutation of 0..n-1, 1 for one of 1..n, None otherwise (page ids)."""
    if not all(isinstance(item, int) for item in items):
        return None
    ordered = sorted(items)
    if ordered == list(range(len(items))):
        return 0
    if ordered == list(range(1, len(items) + 1)):
        return 1
    return None


def parse_order(
    text: str, n_items: int | None = None, reference_pages: Sequence[int | str] = ()
) -> list[int | str] | None:
    """The order written in `text` (see the module docstring): a 0-based permutation, or n distinct page
    ids; None otherwise. `n_items` is the number of pages when known; else the answer's own length.
    `reference_pages` (the pages a reference orders) also makes integer page ids such as `[12, 10, 11]` an
    order, when the answer orders exactly those pages."""
    items = read_order_items(text)
    if not items:
        return None
    n = n_items if n_items is not None else len(items)
    if len(items) != n:
        return None
    base = order_base(items)
    if base is not None:
        return [item - base for item in items]  # type: ignore[operator]
    if any(isinstance(item, str) for item in items) and len(set(items)) == n:
        return items
    if reference_pages and len(set(items)) == n and set(items) == set(reference_pages):
        return items
    return None


# ---- labels and options -------------------------------------------------------------------------

# VLMEvalKit's `_VERBOSE_ANSWER_RE` ("The correct answer is **B**."), with the letter standing alone.
_ANSWER_IS = re.compile(r"answer\s+is\s+\**([A-Za-z])\**(?!\w)", re.IGNORECASE)
_ONLY_PUNCTUATION = re.compile(r"[\s.!)\]*]*")
LAST_WORDS = 4  # VLMEvalKit: `splits.index(ch) > len(splits) - 5`


def _option_letter(text: str, letters: Sequence[str]) -> str | None:
    """VLMEvalKit's `can_infer_option` (VERBOSE off): exactly one option letter stands alone among the
    words and is one of the last four, else an "answer is X" sentence names one (module docstring)."""
    cleaned = text
    for character in _OPTION_PUNCTUATION:
        cleaned = cleaned.replace(character, " ")
    words = cleaned.split()
    named = [letter for letter in letters if letter in words]
    if len(named) == 1 and words.index(named[0]) >= len(words) - LAST_WORDS:
        return named[0]
    for match in _ANSWER_IS.finditer(text):
        letter = match.group(1)
        if letter.islower() and not _ONLY_PUNCTUATION.fullmatch(text, match.end()):
            continue  # "the answer is a cat": an article, not option A
        if letter.upper() in letters:
            return letter.upper()
    return None


def _option_text(text: str, options: Mapping[str, str]) -> str | None:
    """VLMEvalKit's `can_infer_text`, on whole words: the one option whose text the answer names."""
    if len(text) > 2 * sum(len(str(value)) for value in options.values()):
        return None
    named = named_labels(text, [str(value) for value in options.values()])
    if len(named) != 1:
        return None
    return next(key for key, value in options.items() if str(value) == named[0])


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
        return _option_letter(text, list(options)) or _option_text(text, options)
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
    reference_pages: Sequence[int | str] = (),
) -> Extracted:
    """Reads `text` as `answer_type` (text, label, json, order)."""
    if answer_type == "text":
        return Extracted(text, bool(text.strip()))
    if answer_type == "label":
        label = infer_label(text, labels, options)
        # An unparsed label answer is scored as the empty answer: "c" must not match the reference "C".
        return Extracted(label, True) if label is not None else Extracted("", False)
    if answer_type == "json":
        value = extract_json_object(text)
        return Extracted(canonical_json(value), True) if value is not None else Extracted(text, False)
    if answer_type == "order":
        order = parse_order(text, n_items, reference_pages)
        return (
            Extracted(json.dumps(order, ensure_ascii=False), True)
            if order is not None
            else Extracted(text, False)
        )
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
