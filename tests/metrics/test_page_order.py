import pytest

from vlm_pipelines.answers import parse_order
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.metrics.page_order import (
    kendall_tau,
    order_reference_problems,
    positional_accuracy,
    spearman_rho,
)


def test_same_order_and_reversed_order():
    assert kendall_tau([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    assert kendall_tau([3, 2, 1, 0], [0, 1, 2, 3]) == -1.0
    assert spearman_rho([3, 2, 1, 0], [0, 1, 2, 3]) == -1.0


def test_one_adjacent_swap_of_three():
    # Pairs: 2 concordant, 1 discordant -> tau 1/3; d = (1, -1, 0) -> rho 1 - 6*2/(3*8) = 0.5.
    assert kendall_tau([1, 0, 2], [0, 1, 2]) == pytest.approx(1 / 3)
    assert spearman_rho([1, 0, 2], [0, 1, 2]) == pytest.approx(0.5)
    assert positional_accuracy([1, 0, 2], [0, 1, 2]) == pytest.approx(1 / 3)


def test_items_can_be_strings():
    assert kendall_tau(["p2", "p1"], ["p1", "p2"]) == -1.0


def test_per_sample_forms_read_json_lists():
    prediction, reference = "[2, 0, 1]", ["[0, 1, 2]"]
    # Reference items sit at predicted positions (1, 2, 0): tau -1/3, rho -0.5, no item in place.
    assert get_metric("kendall_tau")(prediction, reference) == pytest.approx(-1 / 3)
    assert get_metric("spearman_rho")(prediction, reference) == pytest.approx(-0.5)
    assert get_metric("positional_accuracy")(prediction, reference) == 0.0


def test_an_unparseable_answer_scores_chance_not_a_reversed_order():
    # Issue 7: every model got tau -1.000 because unparseable answers counted as reversed orders.
    for text in ["pages 2, 0, 1", "[[0], [1]]", "I cannot tell", ""]:
        assert get_metric("kendall_tau")(text, ["[0, 1, 2]"]) == 0.0
        assert get_metric("spearman_rho")(text, ["[0, 1, 2]"]) == 0.0
        assert get_metric("positional_accuracy")(text, ["[0, 1, 2]"]) == 0.0
    assert get_metric("kendall_tau")("[2, 1, 0]", ["[0, 1, 2]"]) == -1.0  # a real reversal still is one


def test_a_prediction_that_is_not_a_permutation_gets_chance_tau_but_partial_positional_credit():
    assert get_metric("kendall_tau")("[0, 1]", ["[0, 1, 2]"]) == 0.0
    assert get_metric("kendall_tau")("[0, 1, 1]", ["[0, 1, 2]"]) == 0.0
    assert get_metric("positional_accuracy")("[0, 1]", ["[0, 1, 2]"]) == pytest.approx(2 / 3)


def test_separated_integers_and_one_based_answers_are_read():
    assert get_metric("kendall_tau")("2, 0, 1", ["[2, 0, 1]"]) == 1.0
    assert get_metric("kendall_tau")("3 1 2", ["[2, 0, 1]"]) == 1.0  # 1-based


def test_single_page_in_agreement_scores_one():
    assert get_metric("kendall_tau")("[0]", ["[0]"]) == 1.0


def test_fenced_list_is_read():
    assert parse_order("```json\n[1, 0]\n```") == [1, 0]


def test_unparseable_or_repetitive_reference_is_an_error():
    with pytest.raises(ValueError, match="reference is not a JSON list"):
        get_metric("kendall_tau")("[0, 1]", ["zero, one"])
    with pytest.raises(ValueError, match="repeats an item"):
        kendall_tau([0, 1], [0, 0])


# ---- issue 15: the reference declares the base; page ids; extra items --------------------------


@pytest.mark.parametrize("name", ["kendall_tau", "spearman_rho", "positional_accuracy"])
@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("[1, 2, 3]", "[1, 2, 3]"),  # issue 15: was 0.0 (the answer shifted to 0-based, the reference not)
        ("[3, 1, 2]", "[3, 1, 2]"),
        ("[0, 1, 2]", "[1, 2, 3]"),  # a complete permutation is read in its own base
        ("[2, 0, 1]", "[3, 1, 2]"),
        ("[3, 1, 2]", "[2, 0, 1]"),
        ('["p3", "p1", "p2"]', '["p3", "p1", "p2"]'),  # issue 15: page ids always scored 0
        ('["P3", "p1", "p2"]', '["p3", "p1", "p2"]'),
        ("[12, 10, 11]", "[12, 10, 11]"),  # integer ids that are no permutation of 0..n-1 or 1..n
        ('["12", "10", "11"]', "[12, 10, 11]"),
        ("12, 10, 11", '["12", "10", "11"]'),
    ],
)
def test_the_same_order_scores_one_in_any_base_and_with_page_ids(name, prediction, reference):
    assert get_metric(name)(prediction, [reference]) == 1.0


def test_page_ids_in_another_order():
    assert get_metric("kendall_tau")('["p1", "p2", "p3"]', ['["p3", "p2", "p1"]']) == -1.0
    assert get_metric("kendall_tau")('["p1", "p2", "x"]', ['["p3", "p2", "p1"]']) == 0.0
    assert get_metric("positional_accuracy")('["p1", "p2", "x"]', ['["p3", "p2", "p1"]']) == pytest.approx(
        1 / 3
    )


def test_an_answer_with_extra_items_is_not_perfect():
    # Issue 15: positional accuracy gave 1.0 to an answer with extra items.
    assert positional_accuracy([0, 1, 2, 0], [0, 1, 2]) == 0.75
    assert get_metric("positional_accuracy")("[0, 1, 2, 0]", ["[0, 1, 2]"]) == 0.75
    assert get_metric("positional_accuracy")("[0, 1, 2, 3, 4, 5]", ["[0, 1, 2]"]) == 0.5
    assert get_metric("kendall_tau")("[0, 1, 2, 0]", ["[0, 1, 2]"]) == 0.0


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("[2, 0]", "[2, 0, 1]"),  # 0-based partial answer, 0-based reference
        ("[3, 1]", "[2, 0, 1]"),  # issue 15: the same list 1-based scored 0 (3 only exists 1-based)
        ("[3, 1]", "[3, 1, 2]"),  # 1-based reference: read 1-based
        ("[2, 0]", "[3, 1, 2]"),  # 0 only exists 0-based
    ],
)
def test_a_partial_list_gets_the_same_credit_in_either_base(prediction, reference):
    assert get_metric("positional_accuracy")(prediction, [reference]) == pytest.approx(2 / 3)
    assert get_metric("kendall_tau")(prediction, [reference]) == 0.0  # no permutation: chance


def test_an_ambiguous_partial_list_is_read_in_the_references_base():
    assert get_metric("positional_accuracy")("[1, 2]", ["[1, 2, 3]"]) == pytest.approx(2 / 3)
    assert get_metric("positional_accuracy")("[1, 2]", ["[0, 1, 2]"]) == 0.0  # pages 1, 2 of 0, 1, 2


def test_a_non_permutation_scores_chance_as_the_docstrings_say():
    # Issue 15: the docstrings said -1.0, the code returned 0.0; 0.0 (chance) it is.
    assert kendall_tau([0, 1], [0, 1, 2]) == 0.0
    assert spearman_rho([0, 0, 1], [0, 1, 2]) == 0.0
    assert "0.0 (chance)" in (kendall_tau.__doc__ or "") and "0.0 (chance)" in (spearman_rho.__doc__ or "")


def test_references_are_checked_to_be_permutations():
    assert order_reference_problems(["[2, 0, 1]", "[3, 1, 2]"]) == []  # same pages, two bases
    assert order_reference_problems(['["p2", "p1"]']) == []
    assert order_reference_problems(["[0, 0, 1]"]) == ["reference order repeats an item: [0, 0, 1]"]
    assert order_reference_problems(["pages"]) == ["reference is not a JSON list: 'pages'"]
    assert order_reference_problems(["[0, 1]", "[0, 1, 2]"]) == [
        "the references order different sets of pages"
    ]


def test_a_page_order_dataset_whose_references_are_not_permutations_fails_its_blocking_check() -> None:
    from pathlib import Path

    import polars as pl

    from vlm_pipelines.evaluation.steps import dataset_checks
    from vlm_pipelines.schemas import ReadResult

    ids = ["good", "repeated", "two-pages"]
    samples = pl.DataFrame(
        {
            "sample_id": ids,
            "image_paths": [[f"{name}.png"] for name in ids],
            "question": ["Order the pages."] * 3,
            "field_name": ["page_order"] * 3,
            "doc_type": ["invoice"] * 3,
            "split": ["test"] * 3,
            "answers": [["[2, 0, 1]"], ["[0, 0, 1]"], ["[1, 0]"]],
        }
    )
    result = ReadResult(
        samples, pl.DataFrame({"reason": []}, schema={"reason": pl.String}), "jsonl", Path(".")
    )
    checks = {check.name: check for check in dataset_checks(result, 0.2, answer_type="order")}
    order = checks["order_references"]
    assert not order.passed and order.blocking and order.metadata == {"samples": 1}
    assert order.summary.startswith(
        "1 sample(s) whose references are not permutations of the same pages, e.g. repeated"
    )
    text_task = {check.name: check for check in dataset_checks(result, 0.2)}
    assert (
        text_task["order_references"].passed
        and text_task["order_references"].summary == "not a page-order task"
    )
