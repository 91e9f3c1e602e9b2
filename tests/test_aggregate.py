import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vlm_pipelines.aggregate import bootstrap_mean_ci, group_scores, paired_difference


def _scores(n: int = 400, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "sample_id": np.arange(n),
            "model": np.where(np.arange(n) % 2 == 0, "m1", "m2"),
            "anls": rng.uniform(0, 1, n),
            "exact_match": rng.integers(0, 2, n).astype(float),
        }
    )


def test_one_row_per_group_and_metric_with_the_documented_columns():
    result = group_scores(_scores(), ["anls", "exact_match"], by=["model"], n_boot=200)
    assert result.columns == ["model", "metric", "mean", "n", "ci_low", "ci_high"]
    assert result.select("model", "metric").rows() == [
        ("m1", "anls"),
        ("m1", "exact_match"),
        ("m2", "anls"),
        ("m2", "exact_match"),
    ]
    assert result["n"].to_list() == [200, 200, 200, 200]


def test_mean_is_the_group_mean_and_lies_inside_the_interval():
    df = _scores()
    result = group_scores(df, ["anls", "exact_match"], by=["model"], n_boot=500)
    expected = df.group_by("model", maintain_order=True).agg(pl.col("anls").mean())["anls"].to_list()
    assert result.filter(pl.col("metric") == "anls")["mean"].to_list() == pytest.approx(expected)
    assert (result["ci_low"] <= result["mean"]).all() and (result["mean"] <= result["ci_high"]).all()
    assert (result["ci_low"] < result["ci_high"]).all()


def test_interval_width_is_close_to_the_normal_approximation():
    values = np.random.default_rng(0).integers(0, 2, 400).astype(float)
    low, high = bootstrap_mean_ci(values, n_boot=2000, seed=0)
    normal_half_width = 1.96 * values.std() / np.sqrt(len(values))  # about 0.049
    assert (high - low) / 2 == pytest.approx(normal_half_width, rel=0.15)


def test_same_seed_same_interval_other_seed_other_interval():
    df = _scores()
    first = group_scores(df, ["anls"], by=["model"], n_boot=300, seed=3)
    assert_frame_equal(first, group_scores(df, ["anls"], by=["model"], n_boot=300, seed=3))
    assert not first.equals(group_scores(df, ["anls"], by=["model"], n_boot=300, seed=4))


def test_a_groups_interval_does_not_depend_on_the_other_groups():
    df = _scores()
    both = group_scores(df, ["anls"], by=["model"], n_boot=300)
    alone = group_scores(df.filter(pl.col("model") == "m2"), ["anls"], by=["model"], n_boot=300)
    assert_frame_equal(both.filter(pl.col("model") == "m2"), alone)


def test_empty_by_gives_one_global_row_per_metric():
    result = group_scores(_scores(), ["anls", "exact_match"], by=[], n_boot=100)
    assert result.columns == ["metric", "mean", "n", "ci_low", "ci_high"]
    assert result["n"].to_list() == [400, 400]


def test_nulls_and_nans_are_dropped_and_n_counts_the_rest():
    df = pl.DataFrame({"task": ["t"] * 4, "score": [1.0, None, 0.0, float("nan")]})
    result = group_scores(df, ["score"], by=["task"], n_boot=100)
    assert result.row(0, named=True)["n"] == 2
    assert result.row(0, named=True)["mean"] == 0.5


def test_a_group_without_scores_has_n_zero_and_null_statistics():
    df = pl.DataFrame(
        {"task": ["t", "u"], "score": [None, 1.0]}, schema={"task": pl.String, "score": pl.Float64}
    )
    row = group_scores(df, ["score"], by=["task"], n_boot=100).row(0, named=True)
    assert row == {"task": "t", "metric": "score", "mean": None, "n": 0, "ci_low": None, "ci_high": None}


def test_a_single_score_has_a_zero_width_interval():
    row = group_scores(pl.DataFrame({"score": [0.7]}), ["score"], by=[], n_boot=50).row(0, named=True)
    assert (row["ci_low"], row["mean"], row["ci_high"]) == (0.7, 0.7, 0.7)


def test_the_bootstrap_interval_of_a_mean_is_pinned():
    # Golden values from the implementation before issue 15 (which changed only the paired comparison).
    df = pl.DataFrame({"model": ["m1"] * 5 + ["m2"] * 3, "anls": [1.0, 0.0, 0.5, 1.0, 0.25, 0.0, 1.0, 1.0]})
    assert group_scores(df, ["anls"], by=["model"]).rows() == [
        ("m1", "anls", 0.55, 5, 0.2, pytest.approx(0.85125, abs=1e-12)),
        ("m2", "anls", pytest.approx(2 / 3), 3, 0.0, 1.0),
    ]
    values = np.random.default_rng(1).uniform(size=400)
    assert bootstrap_mean_ci(values, n_boot=2000, seed=3) == (0.4577404357062139, 0.5145366986537976)


def _model_frames(shift: float, n: int = 300) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, n)
    noise = rng.normal(0, 0.05, n)
    ids = np.arange(n)
    return (
        pl.DataFrame({"sample_id": ids, "anls": base + shift + noise}),
        pl.DataFrame({"sample_id": ids, "anls": base}),
    )


def test_paired_difference_detects_a_clear_improvement():
    df_a, df_b = _model_frames(shift=0.05)
    result = paired_difference(df_a, df_b, "anls", n_boot=500)
    assert result.n == 300
    assert result.diff == pytest.approx(result.mean_a - result.mean_b)
    assert 0 < result.ci_low < result.diff < result.ci_high
    assert result.a_better and result.verdict == "A better"


def test_paired_difference_sees_b_better_the_other_way_round():
    df_a, df_b = _model_frames(shift=0.05)
    result = paired_difference(df_b, df_a, "anls", n_boot=500)
    assert not result.a_better and result.verdict == "B better"


def test_identical_models_show_no_significant_difference():
    df_a, _ = _model_frames(shift=0.0)
    result = paired_difference(df_a, df_a, "anls", n_boot=500)
    assert (result.diff, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.verdict == "no significant difference"


def test_for_error_rates_a_lower_score_is_better():
    df_a, df_b = _model_frames(shift=-0.05)
    result = paired_difference(df_a, df_b, "anls", n_boot=500, higher_is_better=False)
    assert result.a_better and result.verdict == "A better"


def test_only_samples_scored_in_both_frames_are_paired():
    df_a = pl.DataFrame({"sample_id": [1, 2, 3, 4], "anls": [1.0, 1.0, None, 1.0]})
    df_b = pl.DataFrame({"sample_id": [2, 3, 4, 5], "anls": [0.0, 0.0, 0.5, 0.0]})
    result = paired_difference(df_a, df_b, "anls", n_boot=100)
    assert (result.n, result.mean_a, result.mean_b, result.diff) == (2, 1.0, 0.25, 0.75)


def test_repeated_sample_ids_are_refused():
    df = pl.DataFrame({"sample_id": [1, 1], "anls": [1.0, 0.0]})
    with pytest.raises(ValueError, match="repeated"):
        paired_difference(df, df, "anls")
