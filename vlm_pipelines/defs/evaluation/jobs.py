"""The evaluation jobs: one task's dataset, and one model x task partition's evaluation."""

import dagster as dg

EVALUATE_SELECTION = dg.AssetSelection.assets("predictions", "sample_metrics", "task_report")

datasets_job = dg.define_asset_job(
    "datasets",
    selection=dg.AssetSelection.assets("dataset", "dataset_quarantine"),
    description="Reads (or generates) one task's dataset.",
)
evaluate_job = dg.define_asset_job(
    "evaluate",
    selection=EVALUATE_SELECTION,
    tags={"vlmbench/inference": "true"},  # dagster.yaml: one inference run at a time
    description="Predictions, per-sample metrics and report of one model x task partition.",
)
