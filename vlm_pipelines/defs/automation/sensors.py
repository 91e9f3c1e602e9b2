"""Re-evaluation when a model package gets a release tag; scoring after a deployment's inference run."""

import json
from collections.abc import Mapping

import dagster as dg

from vlm_pipelines import settings
from vlm_pipelines.defs.partitions import evaluation_partition_key
from vlm_pipelines.model_registry import EvaluatedModel


def models_by_package(models: Mapping[str, EvaluatedModel]) -> dict[str, list[str]]:
    """Registry names by package: a model is listed under its own package and every package it uses
    (`ModelSpec.uses_packages`), so a model-hf release re-evaluates ocr-smollm2 too."""
    from model_interface import discover

    specs = discover()
    packages: dict[str, list[str]] = {}
    for name, entry in models.items():
        if entry.model in specs:
            for package in specs[entry.model].packages:
                packages.setdefault(package, []).append(name)
    return packages


def build_scoring_sensor() -> dg.RunStatusSensorDefinition:
    """Starts `scoring` (CPU) for the partition of every `inference` run that succeeded."""
    from vlm_pipelines.defs.evaluation.jobs import inference_job, scoring_job

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[inference_job],
        request_job=scoring_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Scores a model x task partition on CPU once its GPU inference run has succeeded.",
    )
    def score_after_inference(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        carried = {key: value for key, value in run.tags.items() if key.startswith("vlmbench/release")}
        return dg.RunRequest(
            run_key=f"score:{run.run_id}", partition_key=run.tags["dagster/partition"], tags=carried
        )

    return score_after_inference


def build_release_tag_sensor(
    evaluation_job, models: Mapping[str, EvaluatedModel], tasks: Mapping
) -> dg.SensorDefinition:
    """A factory over the registries: its run requests are their model x task partitions."""

    @dg.sensor(
        job=evaluation_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Re-evaluates every partition of the models whose package got a new `<package>/v<version>` tag.",
    )
    def model_release_sensor(context: dg.SensorEvaluationContext):
        from vlm_pipelines.release_tags import list_release_tags, new_release_tags

        seen = set(json.loads(context.cursor)) if context.cursor else set()
        tags = list_release_tags(settings.release_repo())
        fresh = new_release_tags(tags, seen)
        if not fresh:
            return dg.SkipReason(f"no new release tags ({len(tags)} known)")
        affected = models_by_package(models)
        requests = []
        for tag in fresh:
            for model_name in sorted(affected.get(tag.package, [])):
                for task_name in sorted(tasks):
                    requests.append(
                        dg.RunRequest(
                            run_key=f"{tag.identity}:{model_name}|{task_name}",
                            partition_key=evaluation_partition_key(model_name, task_name),
                            tags={  # the GPUs the run needs: the deployment's run coordinator
                                "vlmbench/release_tag": tag.name,
                                "vlmbench/release_commit": tag.commit,
                                "vlmbench/package": tag.package,
                                "vlmbench/package_version": tag.version,
                            },
                        )
                    )
        cursor = json.dumps(sorted(seen | {tag.identity for tag in fresh}))
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return model_release_sensor
