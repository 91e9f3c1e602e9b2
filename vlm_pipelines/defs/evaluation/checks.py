"""The evaluation assets' checks: declared here, evaluated by the assets (the numbers come from the core).

All are blocking: a failed check stops what depends on it in the same run, and `predictions` refuses a
dataset whose checks failed (`vlm_pipelines.evaluation.load_dataset`).
"""

import dagster as dg

DATASET_CHECKS = [
    dg.AssetCheckSpec("schema", asset="dataset", blocking=True, description="pandera SampleSchema"),
    dg.AssetCheckSpec(
        "quarantine_share", asset="dataset", blocking=True, description="quarantined share below the bound"
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
