"""The cross-model leaderboard, refreshed whenever evaluation partitions land (even with some missing)."""

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
        from vlm_pipelines.evaluation import dataset_record
        from vlm_pipelines.reports.leaderboard import build_leaderboard
        from vlm_pipelines.reports.tables import markdown_table
        from vlm_pipelines.reports.task_report import png_data_uri

        paths = evaluation.paths()
        board = build_leaderboard(
            paths.results,
            paths.leaderboard,
            {name: list(task.metrics) for name, task in tasks.items()},
            lambda name: dataset_record(name, paths),
        )
        return dg.MaterializeResult(
            metadata={
                "leaderboard": dg.MetadataValue.md(board.console_text()),
                "history": dg.MetadataValue.md(markdown_table(board.history)),
                "plots": dg.MetadataValue.md(
                    "\n\n".join(f"![{p.stem}]({png_data_uri(p)})" for p in board.plots)
                ),
                "html": dg.MetadataValue.path(str(board.html_path)),
                "entries": sum(section.table.height for section in board.sections),
                "json": dg.MetadataValue.path(str(board.json_path)),
            }
        )

    return leaderboard
