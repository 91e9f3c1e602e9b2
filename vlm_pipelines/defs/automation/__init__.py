"""Automation: re-evaluate on a model package's release tag, or weekly (both off by default)."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.automation.schedules import build_reevaluation_schedule
from vlm_pipelines.defs.automation.sensors import build_release_tag_sensor


def automation_definitions(evaluate_job, models: Mapping, tasks: Mapping) -> dg.Definitions:
    return dg.Definitions(
        sensors=[build_release_tag_sensor(evaluate_job, models, tasks)],
        schedules=[build_reevaluation_schedule(evaluate_job, models, tasks)],
    )
