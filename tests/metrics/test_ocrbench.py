from vlm_pipelines.metrics import get_metric
from vlm_pipelines.metrics.ocrbench import ocrbench


def test_reference_contained_in_the_prediction_ignoring_case():
    assert ocrbench("The word is centre.", ["CENTRE"]) == 1.0


def test_reference_not_contained():
    assert ocrbench("enemy", ["FRIEND"]) == 0.0


def test_newlines_become_spaces():
    assert ocrbench("12\n34", ["12 34"]) == 1.0


def test_any_reference_is_enough():
    assert ocrbench("it reads 1998", ["1989", "1998"]) == 1.0


def test_formula_variant_removes_spaces_and_keeps_case():
    assert ocrbench("x ^ { 2 }", ["x^{2}"], formula=True) == 1.0
    assert ocrbench("x ^ { 2 }", ["x^{2}"]) == 0.0
    assert ocrbench("X^{2}", ["x^{2}"], formula=True) == 0.0


def test_an_empty_reference_is_contained_in_everything_as_in_ocrbench():
    assert ocrbench("anything", [""]) == 1.0


def test_registered_metric():
    assert get_metric("ocrbench")("The word is centre.", ["CENTRE"]) == 1.0


def test_the_formula_rule_is_selectable_as_its_own_metric():
    # Issue 15: a task could not select OCRBench's handwritten-formula rule.
    assert ocrbench("x ^ { 2 } + 1", ["x^{2}+1"], formula=True) == 1.0
    assert get_metric("ocrbench_formula")("x ^ { 2 } + 1", ["x^{2}+1"]) == 1.0
    assert get_metric("ocrbench")("x ^ { 2 } + 1", ["x^{2}+1"]) == 0.0
    assert get_metric("ocrbench_formula")("\\frac { a } { b }\n", ["\\frac{a}{b}"]) == 1.0
    assert get_metric("ocrbench_formula")("X^{2}", ["x^{2}"]) == 0.0  # case is kept, as in OCRBench


def test_a_task_names_the_formula_metric():
    from vlm_pipelines.tasks.config import TaskConfig

    task = TaskConfig(name="hme", dataset={"path": "data/x"}, metrics=["ocrbench_formula"])
    assert task.metrics == ["ocrbench_formula"]
