from __future__ import annotations

import csv

import pytest

from tests.conftest import SAMPLE_DATA
from vlm_pipelines.postprocess import KNOWN_STEPS, postprocess

ANSWER_STEPS = ["strip_label", "normalize_whitespace"]


@pytest.fixture(scope="module")
def real_predictions() -> list[tuple[str, str, str]]:
    """(field_name, reference, Qwen2-VL-2B answer) per row of the real SNILS prediction file."""
    folder = SAMPLE_DATA / "real_predictions"
    with (folder / "snils_dataset_annotations.csv").open(encoding="utf-8-sig", newline="") as handle:
        annotations = list(csv.DictReader(handle, delimiter=";"))
    (answers_file,) = folder.glob("snils_MODELFRAMEWORK_Qwen2-VL-2B-Instruct_VQA_answers_*.csv")
    with answers_file.open(encoding="utf-8-sig", newline="") as handle:
        answers = {int(row["id"]): row["model_answer"] for row in csv.DictReader(handle, delimiter=";")}
    return [(row["question_type"], row["answer"], answers[index]) for index, row in enumerate(annotations)]


def _exact_matches(pairs: list[tuple[str, str]]) -> int:
    return sum(prediction.casefold() == reference.casefold() for reference, prediction in pairs)


def test_post_processing_raises_exact_match_on_real_qwen_answers(real_predictions) -> None:
    raw = [(reference, answer) for _, reference, answer in real_predictions]
    cleaned = [
        (reference, postprocess(answer, ANSWER_STEPS, field_name=field))
        for field, reference, answer in real_predictions
    ]

    before, after = _exact_matches(raw), _exact_matches(cleaned)

    assert len(real_predictions) == 9
    assert (before, after) == (1, 6)
    assert after > before


def test_echoed_labels_in_real_answers_are_stripped(real_predictions) -> None:
    cleaned = {
        answer: postprocess(answer, ANSWER_STEPS, field_name=field) for field, _, answer in real_predictions
    }

    assert cleaned["Фамилия: ОСИПОВ"] == "ОСИПОВ"
    assert cleaned["Отчество - Игоревич"] == "Игоревич"
    assert cleaned["Дата рождения: 25 июня 2018 года"] == "25 июня 2018 года"
    assert cleaned["353-721-310 54"] == "353-721-310 54"
    sentence = "The city mentioned on the document is Sevastopol, in the Russian Federation."
    assert cleaned[sentence] == sentence


@pytest.mark.parametrize(
    ("text", "field_name", "expected"),
    [
        ("Фамилия: ОСИПОВ", None, "ОСИПОВ"),
        ("Отчество - Игоревич", None, "Игоревич"),
        ("Номер снилса — 353-721-310 54", "Номер СНИЛС", "353-721-310 54"),
        ("Answer: 42", "total", "42"),
        ("Область: респ. Северная Осетия - Алания", "Область", "респ. Северная Осетия - Алания"),
        ("респ. Северная Осетия - Алания", "Область", "респ. Северная Осетия - Алания"),
        ("респ. Северная Осетия - Алания", None, "респ. Северная Осетия - Алания"),
        ("Москва - Сити", "Город", "Москва - Сити"),
        ("12:30", "time", "12:30"),
        ("https://example.org", None, "https://example.org"),
        (
            "The answer to the question about the seller is: ACME",
            None,
            "The answer to the question about the seller is: ACME",
        ),
        ("Фамилия:", "Фамилия", "Фамилия:"),
    ],
)
def test_strip_label(text: str, field_name: str | None, expected: str) -> None:
    assert postprocess(text, ["strip_label"], field_name=field_name) == expected


def test_after_answer_marker_takes_the_last_marker() -> None:
    text = "Let me think. answer: 3\nWait, no.\nANSWER: 2, 0, 1"

    assert postprocess(text, ["after_answer_marker"]) == "2, 0, 1"
    assert postprocess("no marker", ["after_answer_marker"]) == "no marker"


def test_small_steps() -> None:
    assert (
        postprocess("  Гор.\u00a0Москва\n Московская  обл. ", ["normalize_whitespace"])
        == "Гор. Москва Московская обл."
    )
    assert postprocess("«Татэнерго»", ["strip_quotes"]) == "Татэнерго"
    assert postprocess('"ОСИПОВ"', ["strip_quotes"]) == "ОСИПОВ"
    assert postprocess("РАО «Шашков-Меркушев»", ["strip_quotes"]) == "РАО «Шашков-Меркушев»"
    assert postprocess("«А» и «Б»", ["strip_quotes"]) == "«А» и «Б»"
    assert postprocess("ОСИПОВ Автоном", ["lowercase"]) == "осипов автоном"
    assert postprocess("unchanged", []) == "unchanged"


def test_steps_run_in_the_given_order() -> None:
    text = "Reasoning...\nANSWER: Фамилия:   ОСИПОВ"

    assert (
        postprocess(text, ["after_answer_marker", "strip_label", "lowercase"], field_name="Фамилия")
        == "осипов"
    )
    assert postprocess(text, ["strip_label", "after_answer_marker"], field_name="Фамилия") != "ОСИПОВ"


def test_unknown_step_lists_the_known_steps() -> None:
    with pytest.raises(
        ValueError, match=r"unknown post-processing step\(s\) \['uppercase'\]; known steps: "
    ) as caught:
        postprocess("x", ["strip_label", "uppercase"])

    assert all(step in str(caught.value) for step in KNOWN_STEPS)
