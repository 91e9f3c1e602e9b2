"""The chat engine's pure parts: history windowing, focused passages, citations after generation."""

from __future__ import annotations

from ui.engine import attribute_citations, focus, format_context, render_prompt, window_history
from vlm_pipelines.chat.store import DEFAULT_TEMPLATE

SOURCES = [
    {"n": 1, "document": "a.pdf", "page": 2, "text": "The warranty period of the pump is 36 months."},
    {"n": 2, "document": "b.md", "page": None, "text": "Support answers within four business hours."},
]


def test_history_keeps_the_latest_turns_that_fit_and_says_what_it_dropped() -> None:
    turns = [(f"question {i}", f"answer {i} [1]" + "x" * 80) for i in range(30)]
    text, note = window_history(turns, budget=600)
    assert note["history_turns"] == 30 and 0 < note["history_kept"] < 30
    assert note["history"] == f"windowed: kept the last {note['history_kept']} of 30 turns (600 characters)"
    assert "question 29" in text and "question 0\n" not in text and "[1]" not in text
    assert window_history(turns[:2])[1] == {"history_turns": 2, "history_kept": 2}


def test_focus_keeps_the_lines_closest_to_the_question_in_order() -> None:
    passage = "\n".join(
        ["Intro line about nothing."] * 10 + ["Locker code is 4471 for room B."] + ["Outro."] * 10
    )
    focused = focus(passage, "What is the locker code?", limit=60)
    assert "Locker code is 4471" in focused and len(focused) <= 60
    assert focus("short", "anything") == "short"


def test_citations_are_kept_when_valid_and_added_by_overlap_otherwise() -> None:
    assert attribute_citations("It is 36 months [1].", SOURCES) == ("It is 36 months [1].", [1], False)
    assert attribute_citations("The warranty period is 36 months.", SOURCES) == (
        "The warranty period is 36 months. [1]",
        [1],
        True,
    )
    assert attribute_citations("Support answers within four hours [7].", SOURCES)[1:] == ([2], True)
    assert attribute_citations("I do not know.", SOURCES) == ("I do not know.", [], False)


def test_the_default_template_numbers_the_sources() -> None:
    prompt = render_prompt(DEFAULT_TEMPLATE, format_context(SOURCES), "How long is the warranty?", "")
    assert "[1] a.pdf, page 2\nThe warranty period" in prompt and "[2] b.md\n" in prompt
    assert prompt.endswith("Question: How long is the warranty?")
