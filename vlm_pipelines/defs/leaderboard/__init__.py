"""The leaderboard: every model on every task, refreshed whenever evaluation partitions land."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.leaderboard.assets import build_leaderboard_asset

leaderboard_job = dg.define_asset_job(
    "leaderboard_job", selection=dg.AssetSelection.assets("leaderboard"), executor_def=dg.in_process_executor
)


def leaderboard_definitions(tasks: Mapping) -> dg.Definitions:
    return dg.Definitions(assets=[build_leaderboard_asset(tasks)], jobs=[leaderboard_job])
