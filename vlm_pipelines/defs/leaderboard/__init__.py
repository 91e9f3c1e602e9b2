"""The leaderboard: every model on every task, refreshed whenever evaluation partitions land."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.leaderboard.assets import build_leaderboard_asset

leaderboard_job = dg.define_asset_job(
    "leaderboard_job", selection=dg.AssetSelection.assets("leaderboard"), executor_def=dg.in_process_executor
)


def leaderboard_definitions(tasks: Mapping) -> dg.Definitions:
    leaderboard = build_leaderboard_asset(tasks)
    # Running by default (also in `vlmbench dev`): the leaderboard follows every evaluation made in the UI.
    refresh = dg.AutomationConditionSensorDefinition(
        "leaderboard_after_evaluation",
        target=dg.AssetSelection.assets(leaderboard),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Rebuilds the leaderboard once new sample_metrics partitions land.",
    )
    return dg.Definitions(assets=[leaderboard], jobs=[leaderboard_job], sensors=[refresh])
