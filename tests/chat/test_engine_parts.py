"""The chat engine's pure parts: history windowing and follow-ups, focused passages, the best sentence,
answers grounded in it (the model's span, else a labelled quote, else "not in the sources"), the prompt with
its response format."""

from __future__ import annotations

from ui.engine import (
    MODEL_SPAN,
    NOT_IN_SOURCES,
    QUOTED,
    Evidence,
    best_sentence,
    focus,
    format_context,
    grounded_answer,
    grounded_span,
    render_prompt,
    resolve,
    window_history,
)
from vlm_pipelines.chat.store import DEFAULT_TEMPLATE

SOURCES = [
    {"n": 1, "document": "a.pdf", "page": 2, "text": "The warranty period of the pump is 36 months."},
    {"n": 2, "document": "b.md", "page": None, "text": "Support answers within four business hours."},
]


def test_history_keeps_the_latest_questions_that_fit_and_never_the_answers() -> None:
    turns = [(f"question {i} " + "x" * 40, f"answer {i} [1]") for i in range(30)]
    kept, note = window_history(turns, budget=600)
    assert note["history_turns"] == 30 and 0 < note["history_kept"] < 30 == len(turns)
    assert note["history"] == f"windowed: kept the last {len(kept)} of 30 questions (600 characters)"
    assert kept[-1].startswith("question 29") and not any("answer" in question for question in kept)
    assert window_history(turns[:2])[1] == {"history_turns": 2, "history_kept": 2}


def test_only_a_follow_up_is_resolved_with_the_question_before_it() -> None:
    earlier = ["Which vllm version is model-vllm pinned to?"]
    assert resolve("Which port does the chat use?", earlier) == ("Which port does the chat use?", "")
    assert resolve("Why is it pinned?", earlier) == (
        "Which vllm version is model-vllm pinned to? Why is it pinned?",
        "Earlier question: Which vllm version is model-vllm pinned to?\n",
    )
    assert resolve("Why is it pinned?", []) == ("Why is it pinned?", "")


def test_the_best_sentence_holds_the_most_question_weight_and_code_tokens_weigh_more() -> None:
    passages = [
        "# Settings\nThe chat runs on port\n7860 by default. Uploads are limited.",
        "| variable | default |\n| --- | --- |\n| `VLMBENCH_MAX_UPLOAD_MB` | `20` |\nOther text here.",
    ]
    port = best_sentence(passages, "Which port does the chat use?")
    assert (port.passage, port.sentence) == (0, "The chat runs on port 7860 by default.")
    upload = best_sentence(passages, "What is the default of VLMBENCH_MAX_UPLOAD_MB?")
    assert (upload.passage, upload.sentence) == (1, "VLMBENCH_MAX_UPLOAD_MB | 20")  # not the header row
    assert best_sentence(passages, "How long does the demo take?").coverage == 0
    assert 0 < port.coverage < 1 == best_sentence(passages, "chat port").coverage


def test_focus_keeps_the_lines_closest_to_the_question_in_order() -> None:
    passage = "\n".join(
        ["Intro line about nothing."] * 10 + ["Locker code is 4471 for room B."] + ["Outro."] * 10
    )
    focused = focus(passage, "What is the locker code?", limit=60)
    assert "Locker code is 4471" in focused and len(focused) <= 60
    assert focus("short", "anything") == "short"


def test_the_models_answer_counts_only_as_a_span_of_the_sentence_that_says_something_new() -> None:
    sentence = "The warranty period of the pump is 36 months."
    question = "How long is the warranty of the pump?"
    assert grounded_span("36 months.", sentence, question) == "36 months"
    assert grounded_span("Answer: 36 months [1] [n]", sentence, question) == "36 months"
    assert grounded_span("is 36 month", sentence, question) == "is 36 month"  # nearly: partial_ratio >= 90
    assert grounded_span("24 months", sentence, question) is None
    assert grounded_span("is 3 months", sentence, question) is None  # near, but a number changed
    assert grounded_span(f"Pump. {sentence} Question: more", sentence, question) is None  # longer than it
    assert grounded_span("The warranty of the pump", sentence, question) is None  # nothing the question lacks


def test_an_answer_is_the_models_span_or_a_labelled_quote_or_not_in_the_sources() -> None:
    evidence = Evidence(0, "The warranty period of the pump is 36 months.", coverage=0.6)
    question = "How long is the warranty?"
    sources = [{**SOURCES[0], "in_prompt": True}, {**SOURCES[1], "in_prompt": False}]
    assert grounded_answer("36 months", question, sources, evidence) == (
        "36 months [1]",
        [1],
        {"model_text": "36 months", "answer": MODEL_SPAN, "answer_text": "36 months"},
    )
    assert grounded_answer("It is 24 months [1] [2] [1]", question, sources, evidence) == (
        'From a.pdf: "The warranty period of the pump is 36 months." [1]',
        [1],
        {
            "model_text": "It is 24 months [1] [2] [1]",
            "answer": QUOTED,
            "answer_text": "The warranty period of the pump is 36 months.",
        },
    )
    weak = Evidence(0, evidence.sentence, coverage=0.1)
    answer, cited, notes = grounded_answer("36 months", question, sources, weak)
    assert (answer, cited, notes["model_text"]) == (NOT_IN_SOURCES, [], "36 months")
    assert grounded_answer("36 months", question, sources, None)[:2] == (NOT_IN_SOURCES, [])


def test_the_prompt_shows_the_sources_text_and_ends_with_the_response_format() -> None:
    context = format_context(
        [*SOURCES, {"n": 3, "document": "c.md", "page": None, "text": "x", "in_prompt": False}]
    )
    assert (
        context
        == "The warranty period of the pump is 36 months.\nSupport answers within four business hours."
    )
    prompt = render_prompt(DEFAULT_TEMPLATE, context, "How long is the warranty?", "")
    assert prompt.startswith("Source: The warranty period") and "[1]" not in prompt
    assert "Question: How long is the warranty?\n" in prompt
    formatted = render_prompt(
        DEFAULT_TEMPLATE, context, "How long is the warranty?", "", "A number of months."
    )
    assert formatted == prompt + "\nAnswer format: A number of months."
