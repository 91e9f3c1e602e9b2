"""Key-information extraction scored field by field on JSON objects.

- ``parse_json_object`` reads a prediction with the project's one extractor (`vlm_pipelines.answers`): a
  bare JSON object, one inside a Markdown code fence (closed or not), or one inside prose.
- Nested objects and arrays are flattened to dotted paths: ``{"a": {"b": [1, 2]}}`` has the fields
  ``a.b.0`` and ``a.b.1``. ``null``, ``{}`` and ``[]`` mean "absent" and produce no field.
- A field counts as matched when it is present on both sides and its values match under the rule:
  ``"exact"`` (texts equal after strip, casefold and whitespace collapse; 1, 1.0 and "1" are equal) or
  ``"cer"`` (character error rate of the normalised texts at most `cer_threshold`).
- precision = matched / predicted fields (an extra field hurts it), recall = matched / reference fields
  (a missing field hurts it). 0/0 counts as 0, except that two empty objects score 1.0 everywhere.

The per-sample metrics take a prediction string and reference JSON strings (max over references);
an unparseable prediction scores 0 on all of them. An unparseable *reference* is a data error and raises.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def values_match(
    predicted: Any, expected: Any, rule: MatchRule = "exact", cer_threshold: float = DEFAULT_CER_THRESHOLD
) -> bool:
    """Whether one predicted leaf value matches the expected one under `rule`."""
    predicted_text = normalize_text(value_text(predicted))
    expected_text = normalize_text(value_text(expected))
    if rule == "exact":
        return predicted_text == expected_text
    if rule == "cer":
        return character_error_rate(predicted_text, expected_text) <= cer_threshold
    raise ValueError(f"unknown match rule {rule!r}; use 'exact' or 'cer'")


def json_field_scores(
    pred_obj: dict[str, Any],
    ref_obj: dict[str, Any],
    rule: MatchRule = "exact",
    cer_threshold: float = DEFAULT_CER_THRESHOLD,
) -> FieldScores:
    """Field precision, recall and F1 of a predicted object against a reference object."""
    predicted = flatten_fields(pred_obj)
    expected = flatten_fields(ref_obj)
    per_field: dict[str, FieldStatus] = {}
    for field, expected_value in expected.items():
        if field not in predicted:
            per_field[field] = "missing"
        elif values_match(predicted[field], expected_value, rule, cer_threshold):
            per_field[field] = "match"
        else:
            per_field[field] = "mismatch"
    for field in predicted:
        if field not in expected:
            per_field[field] = "extra"

    if not predicted and not expected:
        return FieldScores(precision=1.0, recall=1.0, f1=1.0, per_field=per_field)
    matched = sum(status == "match" for status in per_field.values())
    precision = matched / len(predicted) if predicted else 0.0
    recall = matched / len(expected) if expected else 0.0
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
    """One of precision/recall/F1 for a prediction string against reference JSON strings (best reference)."""
    reference_objects = [_parse_reference(ref) for ref in as_reference_list(references)]
    pred_obj = parse_json_object(prediction)
    if pred_obj is None:
        return 0.0
    return max(json_field_scores(pred_obj, ref, rule, cer_threshold)[quantity] for ref in reference_objects)


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
