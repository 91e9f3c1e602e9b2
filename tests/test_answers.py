"""Answer extraction (`vlm_pipelines.answers`): golden vectors for labels, JSON and page orders."""

from __future__ import annotations

import json

import pytest

from vlm_pipelines.answers import extract_answer, extract_json, infer_label, parse_order
from vlm_pipelines.metrics import get_metric

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
    assert extract_answer("label", "no idea", labels=LABELS) == ("", False)  # scored as the empty answer
    parsed = extract_answer("json", 'Sure: {"b": 2, "a": 1}')
    assert parsed.parsed and json.loads(parsed.text) == {"a": 1, "b": 2}
    assert extract_answer("order", "3 1 2", n_items=3) == ("[2, 0, 1]", True)
    assert extract_answer("order", "reversed", n_items=3) == ("reversed", False)
    assert extract_answer("text", "  ") == ("  ", False)
    with pytest.raises(ValueError, match="unknown answer type"):
        extract_answer("choice", "x")


# ---- issue 15: multiple choice as VLMEvalKit reads it ---------------------------------------------

ANIMALS = {"A": "dog", "B": "cat", "C": "bird", "D": "fish"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Expected values are what VLMEvalKit's `can_infer` (VERBOSE off, matching_util.py as of 2026-08)
        # returns for these options; False there (then "Z", a wrong answer) is None (unparsed) here.
        ("B", "B"),
        ("(b)", None),  # a lowercase letter is no option letter, and "(b)" names no option text
        ("B) cat", "B"),
        ("The answer is A.", "A"),  # issue 15: was unparsed (the "A is an article" rule of VERBOSE mode)
        ("The correct answer is **A**.", "A"),
        ("cat", "B"),  # the option's text
        ("I think A or B", None),  # two letters: ambiguous
        ("None of the above", None),
        ("c", None),
        ("the answer is b", "B"),  # VLMEvalKit's "answer is X" pattern ignores case
        ("The answer is B because the animal has whiskers and fur", "B"),  # B is not among the last words
        ("B is wrong because the picture clearly shows something else", None),  # ... and no pattern
        ("A cat", "A"),
        ("a dog", "A"),
        ("Answer: D", "D"),
        ("I pick C.", "C"),
    ],
)
def test_multiple_choice_golden_forms_agree_with_vlmevalkit(text: str, expected: str | None) -> None:
    assert infer_label(text, options=ANIMALS) == expected


def test_an_option_letter_counts_only_among_the_last_four_words():
    assert infer_label("well B is my answer", options=ANIMALS) == "B"  # 2nd of 5 words
    assert infer_label("B is my answer here", options=ANIMALS) is None  # 1st of 5 words: too early


@pytest.mark.parametrize(
    ("text", "expected", "vlmevalkit"),
    [
        # Deliberate differences, listed in docs/metrics.md:
        ("concatenate", None, "B"),  # option text on whole words, not substrings
        ("The answer is a cat.", "B", "A"),  # a lowercase "a" inside the sentence is the article
        ("The answer is clear: it shows a cat, so C and D are wrong", None, "C"),  # "clear" is no "C"
        ("Z", None, "Z"),  # VLMEvalKit's "no answer" letter is unparsed here; both score 0
    ],
)
def test_deliberate_differences_from_vlmevalkit(text: str, expected: str | None, vlmevalkit: str) -> None:
    assert infer_label(text, options=ANIMALS) == expected != vlmevalkit


def test_the_answer_is_pattern_reads_letters_beyond_d():
    options = {letter: f"option {letter}" for letter in "ABCDEF"}
    # Two letters named, so the pattern decides; VLMEvalKit's pattern knows only A-D.
    assert infer_label("After comparing them all, the answer is **F**, not E.", options=options) == "F"


def test_option_text_is_read_only_from_a_short_answer():
    # VLMEvalKit's can_infer_text: at most twice as long as all option texts together (here 2 * 14).
    assert infer_label("it is a cat", options=ANIMALS) == "B"
    assert infer_label("looking closely at the whiskers it is a cat", options=ANIMALS) is None


def test_always_answering_the_answer_is_x_scores_the_same_for_every_letter():
    # Issue 15: "The answer is A." was unparsed while B, C and D were read: a model that was always
    # right scored 75%.
    for letter in "ABCD":
        assert extract_answer("label", f"The answer is {letter}.", options=ANIMALS) == (letter, True)


def test_a_lowercase_letter_that_is_unparsed_does_not_score_as_correct():
    # Issue 15: "c" was unparsed, yet scored 1 against the reference "C" (the metric casefolds).
    extracted = extract_answer("label", "c", options=ANIMALS)
    assert extracted == ("", False)
    assert get_metric("classification_accuracy")(extracted.text, ["C"]) == 0.0
    parsed = extract_answer("label", "C", options=ANIMALS)
    assert get_metric("classification_accuracy")(parsed.text, ["C"]) == 1.0


# ---- issue 15: page orders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ('["p3", "p1", "p2"]', 3, ["p3", "p1", "p2"]),  # page ids are kept as written
        ('["P3", " p1", "p2"]', 3, ["p3", "p1", "p2"]),  # ... stripped and casefolded
        ('["p1", "p1", "p2"]', 3, None),
        ("[1.0, 0.0]", 2, [1, 0]),
        ("[true, false]", 2, None),
    ],
)
def test_page_ids_are_orders_too(text: str, n: int, expected: object) -> None:
    assert parse_order(text, n) == expected


def test_extract_answer_reads_page_ids():
    assert extract_answer("order", '["b", "a"]', n_items=2) == ('["b", "a"]', True)


def test_integer_page_ids_read_as_an_order_when_they_are_the_references_pages() -> None:
    # issue 15: `[12, 10, 11]` scored right but counted as unparsed (the reader never saw the reference)
    assert parse_order("[12, 10, 11]", 3) is None
    assert parse_order("[12, 10, 11]", 3, reference_pages=[10, 11, 12]) == [12, 10, 11]
    assert parse_order("[12, 10, 13]", 3, reference_pages=[10, 11, 12]) is None
    assert extract_answer("order", "12, 10, 11", n_items=3, reference_pages=[10, 11, 12]).parsed
