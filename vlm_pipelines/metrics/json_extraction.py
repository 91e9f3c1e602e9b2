"""Key-information extraction scored field by field on JSON objects.

- ``parse_json_object`` reads a prediction with the project's one extractor (`vlm_pipelines.answers`): a
  bare JSON object, one inside a Markdown code fence (closed or not), or one inside prose.
- A *field* is a leaf of the object; its path is dotted: ``{"a": {"b": [1, 2]}}`` has the fields
  ``a.b.0`` and ``a.b.1``. ``null``, ``{}`` and ``[]`` mean "absent" and produce no field.
- Objects are compared key by key. **Lists are matched item to item by optimal assignment**
  (`scipy.optimize.linear_sum_assignment`, maximising the matched fields; ties keep the written order),
  not by position, so one missing first line item does not make every later one wrong. A reference item
  left without a partner has its fields ``missing``; a predicted item left without one has them ``extra``,
  keyed by its own index with a ``+`` (``items.+2.name``).
- A field counts as matched when it is present on both sides and its values match under the rule:
  ``"exact"`` (texts equal after strip, casefold and whitespace collapse; true/false and "True" are
  equal) or ``"cer"`` (character error rate of the normalised texts at most `cer_threshold`). Under both
  rules **numbers are compared as numbers** first (`parse_number`): ``12.50``, ``"12.5"`` and
  ``"12,50"`` are equal, and so are ``1000``, ``"1,000"``, ``"1 000"`` and ``"1.000,00"``.
- precision = matched / predicted fields (an extra field hurts it), recall = matched / reference fields
  (a missing field hurts it). 0/0 counts as 0, except that two empty objects score 1.0 everywhere.

The per-sample metrics take a prediction string and reference JSON strings. With several references
**one reference is chosen, the one with the best F1** (the first on a tie), and precision, recall and F1
are all reported for it - never each maximised over a different reference. An unparseable prediction
scores 0 on all of them. An unparseable *reference* is a data error and raises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Literal, TypedDict

from vlm_pipelines.answers import extract_json_object
from vlm_pipelines.metrics.error_rates import character_error_rate
from vlm_pipelines.metrics.registry import Metric, as_reference_list
from vlm_pipelines.metrics.text_match import normalize_text

MatchRule = Literal["exact", "cer"]
FieldStatus = Literal["match", "mismatch", "missing", "extra"]
DEFAULT_CER_THRESHOLD = 0.1


class FieldScores(TypedDict):
    precision: float
    recall: float
    f1: float
    per_field: dict[str, FieldStatus]


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in `text` (fenced or in prose; see `vlm_pipelines.answers`), or None."""
    return extract_json_object(text)


def flatten_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Leaf values of a JSON object keyed by dotted path; null and empty containers are left out."""
    fields: dict[str, Any] = {}
    _flatten_into(obj, "", fields)
    return fields


def _flatten_into(value: Any, path: str, fields: dict[str, Any]) -> None:
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        if value is not None:
            fields[path] = value
        return
    for key, child in children:
        _flatten_into(child, f"{path}.{key}" if path else str(key), fields)


def value_text(value: Any) -> str:
    """A JSON leaf as comparable text: true/false, integral floats without ".0", strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_SIGN = r"(?P<sign>[+\-\u2212]?)"
_GROUP_SPACE = "[ \u00a0\u2009\u202f'\u2019]"  # space, no-break, thin, narrow no-break, apostrophes
# (pattern, thousands separators to drop, decimal separator); the first that matches wins.
_NUMBER_FORMS = [
    (re.compile(_SIGN + r"(?P<n>\d+)"), "", "."),  # 1000
    (re.compile(_SIGN + r"(?P<n>[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?)"), ",", "."),  # 1,000 / 5,422.39
    (re.compile(_SIGN + r"(?P<n>[1-9]\d{0,2}(?:(?:\.\d{3}){2,}|(?:\.\d{3})+,\d+))"), ".", ","),  # 1.000,50
    (re.compile(_SIGN + r"(?P<n>[1-9]\d{0,2}(?:" + _GROUP_SPACE + r"\d{3})+(?:,\d+)?)"), _GROUP_SPACE, ","),
    (re.compile(_SIGN + r"(?P<n>[1-9]\d{0,2}(?:" + _GROUP_SPACE + r"\d{3})+\.\d+)"), _GROUP_SPACE, "."),
    (re.compile(_SIGN + r"(?P<n>\d+\.\d+)"), "", "."),  # 12.50, and 1.000 = 1.0
    (re.compile(_SIGN + r"(?P<n>\d+,\d+)"), "", ","),  # 12,50 (three digits after the comma: 1,000 above)
]


def parse_number(value: Any) -> Decimal | None:
    """A JSON number, or a string written as one in English or European style, as a Decimal; else None.

    The rule, in order: digits alone (`1000`); comma thousands with an optional decimal point (`1,000`,
    `5,422.39`); dot thousands with a decimal comma or in two groups or more (`1.000,50`, `1.000.000`);
    space or apostrophe thousands with either decimal mark (`1 000,50`, `1'000.50`); a lone point is the
    decimal point (`12.50`, and `1.000` is 1.0); a lone comma is the decimal comma (`12,50`) unless
    exactly three digits follow, which makes it thousands (`1,000` is 1000). Groups after the first have
    three digits. A leading sign is allowed. Not numbers: a leading zero before more digits (`007`, an
    identifier), exponents, currency signs and units, booleans.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern, thousands, decimal in _NUMBER_FORMS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        digits = re.sub(thousands, "", match["n"]) if thousands == _GROUP_SPACE else match["n"]
        if thousands and thousands != _GROUP_SPACE:
            digits = digits.replace(thousands, "")
        digits = digits.replace(decimal, ".")
        if len(digits.split(".")[0]) > 1 and digits.startswith("0"):
            return None
        return Decimal(("-" if match["sign"] in ("-", "\u2212") else "") + digits)
    return None


def values_match(
    predicted: Any, expected: Any, rule: MatchRule = "exact", cer_threshold: float = DEFAULT_CER_THRESHOLD
) -> bool:
    """Whether one predicted leaf value matches the expected one under `rule` (numbers as numbers)."""
    if rule not in ("exact", "cer"):
        raise ValueError(f"unknown match rule {rule!r}; use 'exact' or 'cer'")
    predicted_number, expected_number = parse_number(predicted), parse_number(expected)
    if predicted_number is not None and predicted_number == expected_number:
        return True
    predicted_text = normalize_text(value_text(predicted))
    expected_text = normalize_text(value_text(expected))
    if rule == "exact":
        return predicted_text == expected_text
    return character_error_rate(predicted_text, expected_text) <= cer_threshold


def _compare(
    predicted: Any,
    expected: Any,
    path: str,
    per_field: dict[str, FieldStatus],
    rule: MatchRule,
    cer_threshold: float,
) -> int:
    """Fills `per_field` for one subtree and returns how many of its fields matched."""
    if isinstance(expected, dict) and isinstance(predicted, dict):
        matched = 0
        for key in dict.fromkeys([*expected, *predicted]):
            child = f"{path}.{key}" if path else str(key)
            matched += _compare(predicted.get(key), expected.get(key), child, per_field, rule, cer_threshold)
        return matched
    if isinstance(expected, list) and isinstance(predicted, list):
        return _compare_lists(predicted, expected, path, per_field, rule, cer_threshold)
    if _is_leaf(expected) and _is_leaf(predicted):
        per_field[path] = "match" if values_match(predicted, expected, rule, cer_threshold) else "mismatch"
        return int(per_field[path] == "match")
    _mark_all(expected, path, "missing", per_field)
    _mark_all(predicted, path, "extra", per_field)
    return 0


def _compare_lists(
    predicted: list[Any],
    expected: list[Any],
    path: str,
    per_field: dict[str, FieldStatus],
    rule: MatchRule,
    cer_threshold: float,
) -> int:
    """Items paired by `linear_sum_assignment` on matched field counts (ties: the written order)."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    def child(index: int | str) -> str:
        return f"{path}.{index}" if path else str(index)

    gains = np.zeros((len(predicted), len(expected)))
    for i, item in enumerate(predicted):
        for j, reference in enumerate(expected):
            gains[i, j] = _compare(item, reference, child(j), {}, rule, cer_threshold)
    # A bonus below one matched field for keeping an item in its own place decides ties only.
    bonus = np.eye(len(predicted), len(expected)) * 0.5 / (1 + min(len(predicted), len(expected)))
    rows, columns = linear_sum_assignment(gains + bonus, maximize=True)
    matched = 0
    for i, j in zip(rows.tolist(), columns.tolist(), strict=True):
        matched += _compare(predicted[i], expected[j], child(j), per_field, rule, cer_threshold)
    for j in sorted(set(range(len(expected))) - set(columns.tolist())):
        _mark_all(expected[j], child(j), "missing", per_field)
    for i in sorted(set(range(len(predicted))) - set(rows.tolist())):
        _mark_all(predicted[i], child(f"+{i}"), "extra", per_field)
    return matched


def _is_leaf(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list)


def _mark_all(value: Any, path: str, status: FieldStatus, per_field: dict[str, FieldStatus]) -> None:
    if _is_leaf(value):
        per_field[path] = status
        return
    for field in flatten_fields({"_": value}) if value is not None else {}:
        per_field[path + field[1:]] = status


def json_field_scores(
    pred_obj: dict[str, Any],
    ref_obj: dict[str, Any],
    rule: MatchRule = "exact",
    cer_threshold: float = DEFAULT_CER_THRESHOLD,
) -> FieldScores:
    """Field precision, recall and F1 of a predicted object against a reference object."""
    if rule not in ("exact", "cer"):
        raise ValueError(f"unknown match rule {rule!r}; use 'exact' or 'cer'")
    n_predicted, n_expected = len(flatten_fields(pred_obj)), len(flatten_fields(ref_obj))
    per_field: dict[str, FieldStatus] = {}
    matched = _compare(pred_obj, ref_obj, "", per_field, rule, cer_threshold)
    if not n_predicted and not n_expected:
        return FieldScores(precision=1.0, recall=1.0, f1=1.0, per_field=per_field)
    precision = matched / n_predicted if n_predicted else 0.0
    recall = matched / n_expected if n_expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return FieldScores(precision=precision, recall=recall, f1=f1, per_field=per_field)


def _parse_reference(text: str) -> dict[str, Any]:
    obj = parse_json_object(text)
    if obj is None:
        raise ValueError(f"reference is not a JSON object: {text[:80]!r}")
    return obj


def json_valid(prediction: str, references: str | Sequence[str] = ()) -> float:
    """1.0 if the prediction holds a JSON object (fences allowed), else 0.0; references are ignored."""
    return float(parse_json_object(prediction) is not None)


def json_field_score(
    prediction: str,
    references: str | Sequence[str],
    quantity: Literal["precision", "recall", "f1"] = "f1",
    rule: MatchRule = "exact",
    cer_threshold: float = DEFAULT_CER_THRESHOLD,
) -> float:
    """One of precision/recall/F1 for a prediction string against reference JSON strings, all three taken
    from the one reference with the best F1 (the first on a tie)."""
    reference_objects = [_parse_reference(ref) for ref in as_reference_list(references)]
    pred_obj = parse_json_object(prediction)
    if pred_obj is None:
        return 0.0
    scores = [json_field_scores(pred_obj, ref, rule, cer_threshold) for ref in reference_objects]
    best = max(range(len(scores)), key=lambda index: (scores[index]["f1"], -index))
    return scores[best][quantity]


def json_field_metric(
    quantity: Literal["precision", "recall", "f1"],
    rule: MatchRule = "exact",
    cer_threshold: float = DEFAULT_CER_THRESHOLD,
    name: str | None = None,
) -> Metric:
    """A (not registered) per-sample metric for one quantity and match rule."""
    rule_text = "exact normalised match" if rule == "exact" else f"CER <= {cer_threshold}"
    return Metric(
        name=name or f"json_field_{quantity}",
        description=f"JSON field {quantity} over dotted leaf paths, values matched by {rule_text}.",
        higher_is_better=True,
        score_fn=partial(json_field_score, quantity=quantity, rule=rule, cer_threshold=cer_threshold),
        worst_value=0.0,
    )


JSON_VALID = Metric(
    name="json_valid",
    description="1 if the prediction parses as a JSON object (```json fences allowed).",
    higher_is_better=True,
    score_fn=json_valid,
    worst_value=0.0,
)
JSON_FIELD_PRECISION = json_field_metric("precision")
JSON_FIELD_RECALL = json_field_metric("recall")
JSON_FIELD_F1 = json_field_metric("f1")
JSON_FIELD_F1_CER = json_field_metric("f1", rule="cer", name="json_field_f1_cer")
