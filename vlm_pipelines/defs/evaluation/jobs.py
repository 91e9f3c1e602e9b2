"""The evaluation jobs: one task's dataset, and one model x task partition's evaluation.

Their steps run one after the other (each needs the one before), so they run in the run's own process:
the default multiprocess executor would only add a process start (and the imports) per step.

`evaluate` does a partition's three steps in one run (the embedded default, `vlmbench run`, CI). A
deployment splits it: `inference` (predictions) runs on a GPU container, pinned to its own devices by
`GpuDockerRunLauncher` (how many devices: `GpuQueuedRunCoordinator`, from the run's partition), and `scoring` (metrics and report) follows on a CPU container, started by the
`score_after_inference` sensor; `VLMBENCH_SPLIT_INFERENCE=1` points the release sensor and the schedule
at `inference` (docs/deploy.md explains the choice).
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
    description="Predictions, per-sample metrics and report of one model x task partition.",
    executor_def=dg.in_process_executor,
)
inference_job = dg.define_asset_job(
    "inference",
    selection=dg.AssetSelection.assets("predictions"),
    description="Predictions of one model x task partition (a deployment's GPU run).",
    executor_def=dg.in_process_executor,
)
scoring_job = dg.define_asset_job(
    "scoring",
    selection=dg.AssetSelection.assets("sample_metrics", "task_report"),
    description="Per-sample metrics and report of one model x task partition (a deployment's CPU run).",
    executor_def=dg.in_process_executor,
)
