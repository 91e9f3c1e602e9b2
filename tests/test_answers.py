"""Answer extraction (`vlm_pipelines.answers`): golden vectors for labels, JSON and page orders."""

from __future__ import annotations

import json

import pytest

from vlm_pipelines.answers import extract_answer, extract_json, infer_label, parse_order

LABELS = ["invoice", "form", "receipt"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("invoice", "invoice"),
        ("This document is a invoice.", "invoice"),  # issue 7: ocr-smollm2 scored 0 on this
        ("RECEIPT", "receipt"),
        ("It's a form.", "form"),
        ("Invoice, not a receipt", None),  # two labels named: no guess
        ("information sheet", None),  # "form" inside a word does not count
        ("transform", None),
        ("I don't know", None),
        ("", None),
    ],
)
def test_a_label_is_inferred_only_when_exactly_one_is_named(text: str, expected: str | None) -> None:
    assert infer_label(text, LABELS) == expected


def test_underscores_in_labels_read_as_spaces() -> None:
    assert infer_label("a bank statement", ["bank_statement", "invoice"]) == "bank_statement"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B", "B"),
        ("(C)", "C"),
        ("The answer is B.", "B"),
        ("A", "A"),
        ("A cat sits on the mat", "D"),  # "A" is the article here; the option text decides
        ("Blue", "A"),
        ("A or B", None),
    ],
)
def test_options_follow_vlmevalkit_can_infer(text: str, expected: str | None) -> None:
    options = {"A": "blue", "B": "red", "C": "green", "D": "cat"}
    assert infer_label(text, options=options) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"b": 1, "a": "Осипов"}\n```', {"a": "Осипов", "b": 1}),
        ('Here is the result: {"fields": {"Пол": "мужской"}} Hope it helps.', {"fields": {"Пол": "мужской"}}),
        ('{not json} but {"x": true}', {"x": True}),
        ('```json\n{"unclosed": 1}', {"unclosed": 1}),
        ('```json\n{"broken": \n```', None),
        ("no json here", None),
        ("[1, 2, 3]", None),  # a list is not an object
    ],
)
def test_one_json_extractor_reads_fenced_and_verbose_objects(text: str, expected: object) -> None:
    assert extract_json(text, dict) == expected


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("[2, 0, 1]", 3, [2, 0, 1]),
        ("2, 0, 1", 3, [2, 0, 1]),
        ("2 0 1", 3, [2, 0, 1]),
        ("2 -> 0 -> 1", 3, [2, 0, 1]),
        ("(2, 0, 1).", 3, [2, 0, 1]),
        ('["2", "0", "1"]', 3, [2, 0, 1]),
        ('{"order": [2, 0, 1]}', 3, [2, 0, 1]),  # verbose JSON: the first list in it
        ("```json\n[1, 0]\n```", 2, [1, 0]),
        ("[3, 1, 2]", 3, [2, 0, 1]),  # 1-based: a permutation of 1..3 and not of 0..2
        ("[1, 2, 0]", 3, [1, 2, 0]),  # 0-based
        ("[0, 1]", 3, None),
        ("[0, 0, 1]", 3, None),
        ("page 2 comes first", 3, None),
        ("", 3, None),
    ],
)
def test_page_orders_as_json_lists_or_separated_integers(text: str, n: int, expected: object) -> None:
    assert parse_order(text, n) == expected


def test_extract_answer_reports_whether_the_answer_parsed() -> None:
    assert extract_answer("label", "This is an invoice", labels=LABELS) == ("invoice", True)
    assert extract_answer("label", "no idea", labels=LABELS) == ("no idea", False)
    parsed = extract_answer("json", 'Sure: {"b": 2, "a": 1}')
    assert parsed.parsed and json.loads(parsed.text) == {"a": 1, "b": 2}
    assert extract_answer("order", "3 1 2", n_items=3) == ("[2, 0, 1]", True)
    assert extract_answer("order", "reversed", n_items=3) == ("reversed", False)
    assert extract_answer("text", "  ") == ("  ", False)
    with pytest.raises(ValueError, match="unknown answer type"):
        extract_answer("choice", "x")
