"""The project's Dagster definitions: assets, checks, jobs, sensor and schedule, built from the registries.

Loading this module reads the YAML registries and the installed model packages' entry points; it loads no
model weights and imports no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.automation import build_reevaluation_schedule, build_release_tag_sensor
from vlm_pipelines.defs.evaluation import build_evaluation_assets
from vlm_pipelines.defs.leaderboard import build_leaderboard_asset
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.model_registry import EvaluatedModel, load_model_registry

EVALUATE_SELECTION = dg.AssetSelection.assets("predictions", "sample_metrics", "task_report")


def registry_problems(registry) -> None:
    """Reports each broken registry entry in one line; the other entries still load."""
    for error in registry.errors:
        logging.getLogger("vlm_pipelines").warning("registry entry skipped: %s", error)


def build_definitions(
    models: Mapping[str, EvaluatedModel] | None = None,
    tasks: Mapping | None = None,
    evaluation: EvaluationSettings | None = None,
    loggers: Mapping[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    from vlm_pipelines.tasks import load_task_registry

    if models is None:
        models = load_model_registry()
        registry_problems(models)
    if tasks is None:
        tasks = load_task_registry()
        registry_problems(tasks)
    models, tasks = dict(models), dict(tasks)
    evaluation_assets = build_evaluation_assets(models, tasks)
    leaderboard = build_leaderboard_asset(tasks)

    datasets_job = dg.define_asset_job(
        "datasets",
        selection=dg.AssetSelection.assets("dataset", "dataset_quarantine"),
        description="Reads (or generates) one task's dataset.",
    )
    evaluate_job = dg.define_asset_job(
        "evaluate",
        selection=EVALUATE_SELECTION,
        tags={"vlmbench/inference": "true"},
        description="Predictions, per-sample metrics and report of one model x task partition.",
    )
    leaderboard_job = dg.define_asset_job(
        "leaderboard_job", selection=dg.AssetSelection.assets("leaderboard")
    )
    return dg.Definitions(
        assets=[*evaluation_assets, leaderboard],
        jobs=[datasets_job, evaluate_job, leaderboard_job],
        sensors=[build_release_tag_sensor(evaluate_job, models, tasks)],
        schedules=[build_reevaluation_schedule(evaluate_job, models, tasks)],
        resources={"evaluation": evaluation or EvaluationSettings()},
        loggers=dict(loggers or {}),
    )


defs = build_definitions()
