"""The cross-model leaderboard, refreshed after every evaluation: the CLI's runner materializes it after
its runs, and in the Dagster UI the `leaderboard_after_evaluation` sensor (running by default) requests it
whenever a partition's `sample_metrics` lands."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.resources import EvaluationSettings

REFRESH_WHEN_PARTITIONS_LAND = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
)


def build_leaderboard_asset(tasks: Mapping) -> dg.AssetsDefinition:
    """A factory over the task registry: the leaderboard reads each task's metrics from it."""

    @dg.asset(
        deps=["sample_metrics"],
        group_name="reports",
        automation_condition=REFRESH_WHEN_PARTITIONS_LAND,
        description="Quality with CIs, paired comparison with the best model, speed, and history by version.",
    )
    def leaderboard(evaluation: EvaluationSettings) -> dg.MaterializeResult:
        from vlm_pipelines.defs.evaluation.metadata import leaderboard_metadata
        from vlm_pipelines.reports.leaderboard import build_data_folder_leaderboard
        from vlm_pipelines.reports.task_report import png_data_uri

        task_metrics = {name: list(task.metrics) for name, task in tasks.items()}
        board = build_data_folder_leaderboard(evaluation.paths(), task_metrics)
        return dg.MaterializeResult(metadata=leaderboard_metadata(board, png_data_uri))

    return leaderboard
