"""Evaluation: each task's dataset, then each model x task partition's predictions, scores and report."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.evaluation.assets import build_evaluation_assets
from vlm_pipelines.defs.evaluation.jobs import datasets_job, evaluate_job, inference_job, scoring_job
from vlm_pipelines.defs.evaluation.versions import build_versions_sensor

__all__ = ["evaluate_job", "evaluation_definitions", "inference_job", "scoring_job"]


def evaluation_definitions(models: Mapping, tasks: Mapping) -> dg.Definitions:
    return dg.Definitions(
        assets=build_evaluation_assets(models, tasks),
        jobs=[datasets_job, evaluate_job, inference_job, scoring_job],
        sensors=[build_versions_sensor(models, tasks)],
    )
