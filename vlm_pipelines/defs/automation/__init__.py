"""Automation: re-evaluate on a model package's release tag, or weekly (both off by default); in a
deployment, score each partition once its inference run has succeeded."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.automation.schedules import build_reevaluation_schedule
from vlm_pipelines.defs.automation.sensors import build_release_tag_sensor, build_scoring_sensor


def automation_definitions(evaluation_job, models: Mapping, tasks: Mapping) -> dg.Definitions:
    """`evaluation_job` is what the release sensor and the schedule start: `evaluate`, or `inference` in a
    deployment that splits GPU inference from CPU scoring."""
    return dg.Definitions(
        sensors=[build_release_tag_sensor(evaluation_job, models, tasks), build_scoring_sensor()],
        schedules=[build_reevaluation_schedule(evaluation_job, models, tasks)],
    )
