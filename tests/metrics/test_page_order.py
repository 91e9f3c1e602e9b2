import pytest

from vlm_pipelines.answers import parse_order
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.metrics.page_order import kendall_tau, positional_accuracy, spearman_rho


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
