"""The evaluation assets' checks: declared here, evaluated by the assets (the numbers come from the core).

All but `conflicting_duplicates` are blocking: a failed check stops what depends on it in the same run,
and `predictions` refuses a dataset whose blocking checks failed (`vlm_pipelines.evaluation.load_dataset`).
`conflicting_duplicates` (the same question of the same image with different answers) is a warning: both
samples are evaluated, the count is in the dataset record's warnings and the run summary.
"""

import dagster as dg

DATASET_CHECKS = [
    dg.AssetCheckSpec("schema", asset="dataset", blocking=True, description="pandera SampleSchema"),
    dg.AssetCheckSpec(
        "quarantine_share", asset="dataset", blocking=True, description="quarantined share below the bound"
    ),
    dg.AssetCheckSpec(
        "order_references",
        asset="dataset",
        blocking=True,
        description="a page-order task's references are permutations of the same pages",
    ),
    dg.AssetCheckSpec(
        "conflicting_duplicates",
        asset="dataset",
        blocking=False,
        description="no question asked twice of the same image with different answers (a warning)",
    ),
]
PREDICTION_CHECKS = [
    dg.AssetCheckSpec("schema", asset="predictions", blocking=True, description="pandera PredictionSchema"),
    dg.AssetCheckSpec(
        "coverage", asset="predictions", blocking=True, description="predictions + failures = dataset rows"
    ),
]
SCORE_CHECKS = [dg.AssetCheckSpec("schema", asset="sample_metrics", blocking=True, description="ScoreSchema")]


def check_from_problems(name: str, asset: str, problems: list[str]) -> dg.AssetCheckResult:
    """A check that passes when the validator found no problem; the problems are its metadata."""
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset,
        passed=not problems,
        description=problems[0][:300] if problems else None,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )
