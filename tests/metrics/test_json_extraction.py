from decimal import Decimal

import pytest

from vlm_pipelines.metrics import get_metric
from vlm_pipelines.metrics.json_extraction import (
    flatten_fields,
    json_field_scores,
    json_valid,
    parse_json_object,
    parse_number,
)

RECEIPT = {"company": "ACME Corporation", "total": "12.50", "date": "2020-01-01"}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here it is:\n```JSON\n{"a": 1}\n```\nAnything else?', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('```json\n{"a": 1}', {"a": 1}),  # cut-off generation without the closing fence
        ("[1, 2]", None),  # an array is not an object
        ('{"a": 1', None),
        ("no json here", None),
    ],
)
def test_parse_json_object(text, parsed):
    assert parse_json_object(text) == parsed


def test_json_valid():
    assert json_valid('```json\n{"a": 1}\n```') == 1.0
    assert json_valid("{'a': 1}") == 0.0  # Python literal, not JSON


def test_nested_objects_and_arrays_flatten_to_dotted_paths_without_nulls_or_empties():
    obj = {"a": {"b": [1, {"c": "x"}]}, "d": None, "e": {}, "f": []}
    assert flatten_fields(obj) == {"a.b.0": 1, "a.b.1.c": "x"}


def test_missing_field_hurts_recall_and_extra_field_hurts_precision():
    predicted = {"company": " acme  corporation", "total": "12.05", "vendor": "x"}
    scores = json_field_scores(predicted, RECEIPT)
    assert scores["per_field"] == {
        "company": "match",
        "total": "mismatch",
        "date": "missing",
        "vendor": "extra",
    }
    assert scores["precision"] == 1 / 3
    assert scores["recall"] == 1 / 3
    assert scores["f1"] == pytest.approx(1 / 3)


def test_precision_and_recall_differ():
    scores = json_field_scores({"company": "ACME Corporation"}, RECEIPT)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 1 / 3, 0.5)


def test_cer_rule_accepts_a_small_typo_that_exact_rejects():
    predicted = {"company": "ACME Corporaton"}  # one deletion in 16 characters: CER 0.0625
    reference = {"company": "ACME Corporation"}
    assert json_field_scores(predicted, reference, rule="exact")["f1"] == 0.0
    assert json_field_scores(predicted, reference, rule="cer", cer_threshold=0.1)["f1"] == 1.0
    assert json_field_scores(predicted, reference, rule="cer", cer_threshold=0.05)["f1"] == 0.0


def test_numbers_booleans_and_their_text_forms_match():
    predicted = {"qty": "2", "price": 3, "paid": "True"}
    reference = {"qty": 2.0, "price": "3", "paid": True}
    assert json_field_scores(predicted, reference)["f1"] == 1.0


def test_nested_fields_are_compared_by_path():
    predicted = {"items": [{"name": "tea", "qty": 1}, {"name": "cake", "qty": 3}]}
    reference = {"items": [{"name": "tea", "qty": 1}, {"name": "cake", "qty": 2}]}
    scores = json_field_scores(predicted, reference)
    assert scores["per_field"]["items.1.qty"] == "mismatch"
    assert scores["f1"] == 0.75


def test_empty_objects():
    assert json_field_scores({}, {})["f1"] == 1.0
    assert json_field_scores({}, {"a": 1})["precision"] == 0.0
    assert json_field_scores({"a": 1}, {})["recall"] == 0.0


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="unknown match rule"):
        json_field_scores({"a": 1}, {"a": 1}, rule="fuzzy")


def test_per_sample_string_forms():
    prediction = '```json\n{"company": "ACME Corporation"}\n```'
    reference = '{"company": "ACME Corporation", "total": "12.50", "date": "2020-01-01"}'
    assert get_metric("json_field_precision")(prediction, [reference]) == 1.0
    assert get_metric("json_field_recall")(prediction, [reference]) == 1 / 3
    assert get_metric("json_field_f1")(prediction, [reference]) == 0.5
    assert (
        get_metric("json_field_f1_cer")('{"company": "ACME Corporaton"}', ['{"company": "ACME Corporation"}'])
        == 1.0
    )


def test_unparseable_prediction_scores_zero_and_unparseable_reference_raises():
    assert get_metric("json_field_f1")("Sorry, I cannot read this.", ['{"a": 1}']) == 0.0
    with pytest.raises(ValueError, match="reference is not a JSON object"):
        get_metric("json_field_f1")('{"a": 1}', ["not json"])


def test_best_reference_counts():
    assert get_metric("json_field_f1")('{"a": 1}', ['{"a": 2}', '{"a": 1}']) == 1.0


# ---- issue 15: numbers, lists, several references ------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "reference"),
    [
        (12.50, "12.50"),  # issue 15: a JSON number against the same amount as a string scored 0
        ("12.5", "12.50"),
        ("1,000", 1000),  # issue 15: thousands separator
        (5422.39, "5,422.39"),  # the demo's references store amounts so
        ("5422.39", "5,422.39"),
        ("1 000,50", 1000.5),  # European: space thousands, decimal comma
        ("1\u202f000,50", "1000.50"),  # narrow no-break space (French typography)
        ("1.000,50", "1000.50"),  # European: dot thousands, decimal comma
        ("12,50", 12.5),  # a lone comma before two digits is the decimal comma
        ("-3", -3.0),
    ],
)
def test_numbers_are_compared_as_numbers_after_locale_aware_parsing(predicted, reference):
    assert json_field_scores({"total": predicted}, {"total": reference})["f1"] == 1.0


@pytest.mark.parametrize(
    ("predicted", "reference"),
    [
        ("1.000", 1000),  # a lone point is the decimal point: 1.000 is 1.0 (documented)
        ("007", 7),  # a leading zero makes an identifier, not a number
        ("12.05", "12.50"),
        ("1,5", 15),
        ("$12.50", "12.50"),  # no currency signs
    ],
)
def test_what_is_not_the_same_number(predicted, reference):
    assert json_field_scores({"total": predicted}, {"total": reference})["f1"] == 0.0


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1,000", "1000"),
        ("1,000,000", "1000000"),
        ("1.000.000", "1000000"),
        ("5,422.39", "5422.39"),
        ("1.000,50", "1000.50"),
        ("1 000", "1000"),
        ("1'000.50", "1000.50"),
        ("12,50", "12.50"),
        ("1,0000", "1.0000"),  # four digits after a lone comma: a decimal comma
        ("0,123", "0.123"),  # a leading 0 is no thousands group
        ("1.000", "1.000"),
        ("\u22123.5", "-3.5"),
        ("abc", None),
        ("1e5", None),
        ("007", None),
        ("1,00,000", None),  # Indian grouping is not read
        (True, None),
    ],
)
def test_parse_number_rule(text, number):
    assert parse_number(text) == (None if number is None else Decimal(number))


def test_a_number_match_also_counts_under_the_cer_rule():
    assert json_field_scores({"total": "1,000"}, {"total": 1000}, rule="cer")["f1"] == 1.0


def test_list_items_are_matched_by_optimal_assignment_not_by_position():
    # Issue 15: one missing first item made every later item wrong.
    reference = {"items": [{"name": "tea", "qty": 1}, {"name": "cake", "qty": 2}, {"name": "jam", "qty": 3}]}
    predicted = {"items": [{"name": "cake", "qty": 2}, {"name": "jam", "qty": 3}]}
    scores = json_field_scores(predicted, reference)
    assert (scores["precision"], scores["recall"]) == (1.0, 4 / 6)
    assert scores["per_field"] == {
        "items.0.name": "missing",
        "items.0.qty": "missing",
        "items.1.name": "match",
        "items.1.qty": "match",
        "items.2.name": "match",
        "items.2.qty": "match",
    }


def test_an_extra_predicted_item_is_keyed_by_its_own_index():
    scores = json_field_scores({"tags": ["x", "a", "b"]}, {"tags": ["a", "b"]})
    assert scores["per_field"] == {"tags.0": "match", "tags.1": "match", "tags.+0": "extra"}
    assert (scores["precision"], scores["recall"]) == (2 / 3, 1.0)


def test_ties_keep_the_written_order():
    scores = json_field_scores({"tags": ["x", "y"]}, {"tags": ["a", "b"]})
    assert scores["per_field"] == {"tags.0": "mismatch", "tags.1": "mismatch"}


def test_several_references_one_is_chosen_by_f1_and_all_three_are_its_own():
    # Issue 15: P, R and F1 were each maximised over a different reference (P=1, R=1, F1=0.8 at once).
    prediction = '{"a": 1, "b": 2}'
    references = ['{"a": 1}', '{"a": 1, "b": 2, "c": 3, "d": 4}']
    # F1 against the first: P 1/2, R 1, F1 2/3; against the second: P 1, R 1/2, F1 2/3 -> tie: the first.
    assert get_metric("json_field_precision")(prediction, references) == 0.5
    assert get_metric("json_field_recall")(prediction, references) == 1.0
    assert get_metric("json_field_f1")(prediction, references) == pytest.approx(2 / 3)
    references = ['{"a": 1}', '{"a": 1, "b": 2, "c": 3}']  # second: P 1, R 2/3, F1 0.8 beats 2/3
    scores = [get_metric(f"json_field_{q}")(prediction, references) for q in ("precision", "recall", "f1")]
    assert scores == pytest.approx([1.0, 2 / 3, 0.8])
