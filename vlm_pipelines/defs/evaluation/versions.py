"""Code versions per partition: editing one task's config or prompt marks only that task's partitions
stale, and a model package release only that model's.

Dagster keeps one code version per asset, so the versions live in two observable source assets, one data
version per partition: `task_definition` (per task: `identity.task_code_version`) and `model_definition`
(per model: `identity.model_code_version`). `predictions` depends on both. They are observed by the
`definitions_changed` sensor (running by default, so `vlmbench dev` marks stale partitions on its own), by
the UI's "Observe sources" button, and by `vlmbench run` / `demo` before they run.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping

import dagster as dg

from vlm_pipelines import settings
from vlm_pipelines.defs.partitions import model_partitions, task_partitions
from vlm_pipelines.evaluation.identity import model_code_version, task_code_version

TASK_DEFINITION = dg.AssetKey("task_definition")
MODEL_DEFINITION = dg.AssetKey("model_definition")


def definition_versions(models: Mapping, tasks: Mapping) -> dict[str, dict[str, str]]:
    """{asset: {partition: version}} for every task and model entry."""
    return {
        TASK_DEFINITION.to_user_string(): {
            name: task_code_version(task, settings.REPO_ROOT) for name, task in sorted(tasks.items())
        },
        MODEL_DEFINITION.to_user_string(): {
            name: model_code_version(entry) for name, entry in sorted(models.items())
        },
    }


def _observations(versions: Mapping[str, Mapping[str, str]]) -> list[dg.AssetObservation]:
    return [
        dg.AssetObservation(asset_key=asset, partition=partition, tags={"dagster/data_version": version})
        for asset, by_partition in versions.items()
        for partition, version in by_partition.items()
    ]


def changed_versions(
    versions: Mapping[str, Mapping[str, str]], known: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    return {
        asset: {p: v for p, v in by_partition.items() if known.get(asset, {}).get(p) != v}
        for asset, by_partition in versions.items()
    }


def report_versions(instance: dg.DagsterInstance, models: Mapping, tasks: Mapping) -> int:
    """Records the versions of these entries that differ from the instance's latest ones; returns how many."""
    versions = definition_versions(models, tasks)
    known: dict[str, dict[str, str]] = {}
    for asset, by_partition in versions.items():
        for partition in by_partition:
            record = instance.get_latest_data_version_record(dg.AssetKey(asset), True, partition)
            if record is not None and record.asset_observation is not None:
                known.setdefault(asset, {})[partition] = record.asset_observation.tags.get(
                    "dagster/data_version"
                )
    observations = _observations(changed_versions(versions, known))
    for observation in observations:
        instance.report_runless_asset_event(observation)
    return len(observations)


def build_definition_sources(models: Mapping, tasks: Mapping) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # observable sources: beta in 1.13, stable in use
        return _definition_sources(models, tasks)


def _definition_sources(models: Mapping, tasks: Mapping) -> list:
    versions = definition_versions(models, tasks)
    sources = {
        TASK_DEFINITION: (task_partitions(tasks), "Each task's config after overrides and its prompt."),
        MODEL_DEFINITION: (model_partitions(models), "Each model entry's package versions and settings."),
    }

    def source(key: dg.AssetKey, partitions: dg.PartitionsDefinition, description: str):
        @dg.observable_source_asset(
            key=key,
            partitions_def=partitions,
            group_name="evaluation",
            description=f"{description} A new version marks only its partitions stale.",
        )
        def observe():
            return dg.DataVersionsByPartition(
                {p: dg.DataVersion(v) for p, v in versions[key.to_user_string()].items()}
            )

        return observe

    return [source(key, partitions, description) for key, (partitions, description) in sources.items()]


def build_versions_sensor(models: Mapping, tasks: Mapping) -> dg.SensorDefinition:
    @dg.sensor(
        name="definitions_changed",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Observes task and model definitions; a changed one marks only its partitions stale.",
    )
    def definitions_changed(context: dg.SensorEvaluationContext):
        versions = definition_versions(models, tasks)
        known = json.loads(context.cursor) if context.cursor else {}
        changed = changed_versions(versions, known)
        if not any(changed.values()):
            return dg.SkipReason("no task or model definition changed")
        return dg.SensorResult(asset_events=_observations(changed), cursor=json.dumps(versions))

    return definitions_changed
