"""The evaluation jobs: one task's dataset, and one model x task partition's evaluation.

Their steps run one after the other (each needs the one before), so they run in the run's own process:
the default multiprocess executor would only add a process start (and the imports) per step.
"""

import dagster as dg

EVALUATE_SELECTION = dg.AssetSelection.assets("predictions", "sample_metrics", "task_report")

datasets_job = dg.define_asset_job(
    "datasets",
    selection=dg.AssetSelection.assets("dataset", "dataset_quarantine"),
    description="Reads (or generates) one task's dataset.",
    executor_def=dg.in_process_executor,
)
evaluate_job = dg.define_asset_job(
    "evaluate",
    selection=EVALUATE_SELECTION,
    tags={"vlmbench/inference": "true"},  # dagster.yaml: one inference run at a time
    description="Predictions, per-sample metrics and report of one model x task partition.",
    executor_def=dg.in_process_executor,
)
