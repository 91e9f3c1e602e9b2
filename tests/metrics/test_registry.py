import subprocess
import sys

import numpy as np
import pytest

from vlm_pipelines.metrics import Metric, UnknownMetricError, get_metric, list_metrics

REQUIRED = {
    "anls", "vqa_accuracy", "relaxed_accuracy", "ocrbench", "ocrbench_formula", "exact_match", "cer", "wer", "bleu",
    "json_valid", "json_field_precision", "json_field_recall", "json_field_f1",
    "classification_accuracy", "kendall_tau", "spearman_rho", "positional_accuracy",
    "token_f1", "citation_match",
}  # fmt: skip


def test_every_required_metric_is_registered():
    assert REQUIRED <= set(list_metrics())


def test_the_registry_is_exactly_the_entry_points_and_each_loads_its_own_metric():
    # Issue 8: this test compared sorted() with sorted(); now it pins the whole registry.
    assert list_metrics() == sorted(REQUIRED | {"json_field_f1_cer", "mtvqa_accuracy"})
    for name in list_metrics():
        assert get_metric(name).name == name


def test_listing_the_metrics_imports_no_metric_module():
    code = (
        "import sys; import vlm_pipelines.metrics as m; names = m.list_metrics()\n"
        "print(len(names), [k for k in sys.modules if k.startswith('vlm_pipelines.metrics.') and k != 'vlm_pipelines.metrics.registry'], 'numpy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split(" ", 1)[1].strip() == "[] False", result.stdout + result.stderr


def test_unknown_name_raises_a_key_error_that_lists_the_known_names():
    with pytest.raises(KeyError) as caught:
        get_metric("anlss")
    assert isinstance(caught.value, UnknownMetricError)
    message = str(caught.value)
    assert message.startswith("unknown metric 'anlss'")
    assert all(name in message for name in list_metrics())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_metric_describes_itself(name):
    metric = get_metric(name)
    assert isinstance(metric, Metric)
    assert metric.name == name
    assert isinstance(metric.higher_is_better, bool)
    assert metric.description and "\n" not in metric.description


def test_error_rates_are_the_only_lower_is_better_metrics():
    assert {name for name in list_metrics() if not get_metric(name).higher_is_better} == {"cer", "wer"}


COLUMNS = {
    "anls": (["1 2 3", "Yes", ""], [["1  2  4 "], ["yes", "no"], [""]]),
    "vqa_accuracy": (["5.", "two"], [["5"], ["2"] * 10]),
    "relaxed_accuracy": (["12.5%", "104"], [["12.5"], ["100"]]),
    "ocrbench": (["it says CENTRE", "x"], [["centre"], ["y"]]),
    "ocrbench_formula": (["x ^ { 2 } + 1", "X^{2}"], [["x^{2}+1"], ["x^{2}"]]),
    "exact_match": ([" Hello  World", "a"], [["hello world"], ["b"]]),
    "cer": (["helo", ""], [["hello"], ["abc"]]),
    "wer": (["a b", "a"], [["a c"], ["a"]]),
    "bleu": (["the cat sat on the mat", "x"], [["the cat sat on the mat"], ["y"]]),
    "json_valid": (['{"a": 1}', "nope"], [["{}"], ["{}"]]),
    "json_field_precision": (['{"a": 1, "b": 2}', "nope"], [['{"a": 1}'], ['{"a": 1}']]),
    "json_field_recall": (['{"a": 1}', "{}"], [['{"a": 1, "b": 2}'], ['{"a": 1}']]),
    "json_field_f1": (['{"a": 1}', "{}"], [['{"a": 1, "b": 2}'], ['{"a": 1}']]),
    "classification_accuracy": (["Cat ", "dog"], [["cat"], ["bird"]]),
    "kendall_tau": (["[0, 1, 2]", "[2, 1, 0]"], [["[0, 1, 2]"], ["[0, 1, 2]"]]),
    "spearman_rho": (["[0, 1, 2]", "oops"], [["[0, 1, 2]"], ["[0, 1, 2]"]]),
    "positional_accuracy": (["[0, 2, 1]", "oops"], [["[0, 1, 2]"], ["[0, 1, 2]"]]),
    "token_f1": (["36 months [1]", "no"], [["36 months"], ["yes"]]),
    "citation_match": (["x [2]", "x"], [["y [2]"], ["y [1]"]]),
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_batch_equals_per_sample_scores(name):
    metric = get_metric(name)
    predictions, references = COLUMNS[name]
    batch = metric.batch(predictions, references)
    assert batch.dtype == np.float64
    assert batch.tolist() == [metric(p, r) for p, r in zip(predictions, references, strict=True)]


def test_a_bare_string_is_one_reference_not_a_list_of_characters():
    assert get_metric("exact_match")("abc", "abc") == 1.0
    assert get_metric("exact_match").batch(["abc"], ["abc"]).tolist() == [1.0]


def test_no_reference_is_an_error():
    with pytest.raises(ValueError, match="at least one reference"):
        get_metric("exact_match")("abc", [])


def test_batch_rejects_columns_of_different_lengths():
    with pytest.raises(ValueError, match="2 predictions but 1 reference lists"):
        get_metric("exact_match").batch(["a", "b"], [["a"]])


def test_metrics_and_aggregation_import_without_dagster():
    code = (
        "import sys; sys.modules['dagster'] = None\n"
        "import vlm_pipelines.metrics, vlm_pipelines.aggregate\n"
        "print(len(vlm_pipelines.metrics.list_metrics()))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(list_metrics())
