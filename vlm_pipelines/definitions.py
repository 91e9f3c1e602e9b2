"""The project's Dagster definitions: assets, checks, jobs, sensor and schedule, built from the registries.

Loading this module reads the YAML registries and the installed model packages' entry points; it loads no
model weights and imports no torch. A broken registry entry is reported in one line and left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import dagster as dg

from vlm_pipelines import settings
from vlm_pipelines.defs.automation import automation_definitions
from vlm_pipelines.defs.evaluation import evaluate_job, evaluation_definitions, inference_job
from vlm_pipelines.defs.knowledge import knowledge_definitions
from vlm_pipelines.defs.leaderboard import leaderboard_definitions
from vlm_pipelines.defs.resources import EvaluationSettings, RecordIOManager
from vlm_pipelines.model_registry import EvaluatedModel, load_model_registry


def registry_problems(registry) -> None:
    """Reports each broken registry entry in one line; the other entries still load (an entry waiting for an
    optional package is not broken: `vlmbench models` lists those)."""
    for error in registry.broken:
        logging.getLogger("vlm_pipelines").warning("registry entry skipped: %s", error)


def build_definitions(
    models: Mapping[str, EvaluatedModel] | None = None,
    tasks: Mapping | None = None,
    evaluation: EvaluationSettings | None = None,
    loggers: Mapping[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    """Every area's definitions for these models and tasks (default: the registries)."""
    from vlm_pipelines.tasks import load_task_registry

    if models is None:
        models = load_model_registry()
        registry_problems(models)
    if tasks is None:
        tasks = load_task_registry()
        registry_problems(tasks)
    models, tasks = dict(models), dict(tasks)
    evaluation = evaluation or EvaluationSettings()
    # The areas are factories over the registries: their partitions are the registries' entries.
    return dg.Definitions.merge(
        evaluation_definitions(models, tasks),
        leaderboard_definitions(tasks),
        knowledge_definitions(),
        automation_definitions(inference_job if settings.split_inference() else evaluate_job, models, tasks),
        dg.Definitions(
            resources={"evaluation": evaluation, "records": RecordIOManager(evaluation=evaluation)},
            loggers=dict(loggers or {}),
            # Also for the UI's "Materialize" (the implicit asset job): its steps depend on each other, so
            # a process per step (the multiprocess default) only adds a start and the imports to each.
            executor=dg.in_process_executor,
        ),
    )


defs = build_definitions()
