"""MTVQA's rule (VLMEvalKit MTVQADataset.evaluate, lmms-eval mtvqa_process_results): the reference,
stripped, lowercased and without ".", contained in the prediction treated the same way."""

from vlm_pipelines.metrics import get_metric
from vlm_pipelines.metrics.mtvqa import mtvqa_accuracy


def test_reference_contained_ignoring_case_in_cyrillic():
    assert mtvqa_accuracy("На вывеске: АПТЕКА", ["аптека"]) == 1.0


def test_dots_are_removed_from_both_sides():
    assert mtvqa_accuracy("120 руб", ["120 руб."]) == 1.0
    assert mtvqa_accuracy("3.14", ["314"]) == 1.0


def test_a_longer_reference_is_not_contained_in_a_shorter_answer():
    assert mtvqa_accuracy("Ромаш", ["Ромашка"]) == 0.0


def test_whitespace_inside_is_kept():
    assert mtvqa_accuracy("21 : 00", ["21:00"]) == 0.0


def test_registered_through_the_entry_point():
    metric = get_metric("mtvqa_accuracy")
    assert metric.higher_is_better
    assert list(metric.batch(["Москва", "Санкт-Петербург"], [["москва"], ["Москва"]])) == [1.0, 0.0]
