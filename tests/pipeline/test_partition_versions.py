"""Issue 14, findings 6 and 9: the leaderboard follows every evaluation made in the UI, and a changed task or
model marks only its own partitions stale (code versions per partition, through Dagster's own staleness)."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.defs.evaluation.versions import report_versions
from vlm_pipelines.defs.partitions import evaluation_partition_key
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.tasks import load_task_registry

MODEL, TASKS = "ocr-rules", ("demo_mini_vqa", "synth_vqa_en")


def _status(defs: dg.Definitions, instance: dg.DagsterInstance, partition: str) -> StaleStatus:
    resolver = CachingStaleStatusResolver(
        instance=instance,
        asset_graph=defs.get_repository_def().asset_graph,
        loading_context=LoadingContextForTest(instance),
    )
    return resolver.get_status(dg.AssetKey("predictions"), partition)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory):
    models = {MODEL: load_model_registry()[MODEL]}
    tasks = {name: load_task_registry()[name] for name in TASKS}
    settings = EvaluationSettings(data_dir=str(tmp_path_factory.mktemp("data")), max_samples=2)
    defs = build_definitions(models, tasks, settings)
    with dg.instance_for_test() as instance:
        assert report_versions(instance, models, tasks) == len(models) + len(tasks)
        for task in TASKS:
            assert (
                defs.resolve_job_def("datasets")
                .execute_in_process(partition_key=task, instance=instance)
                .success
            )
            run = defs.resolve_job_def("evaluate").execute_in_process(
                partition_key=evaluation_partition_key(MODEL, task), instance=instance
            )
            assert run.success
        yield {"models": models, "tasks": tasks, "settings": settings, "defs": defs, "instance": instance}


def test_editing_one_tasks_prompt_marks_only_that_tasks_partitions_stale(evaluated) -> None:
    instance, models, tasks = evaluated["instance"], evaluated["models"], dict(evaluated["tasks"])
    for task in TASKS:
        assert _status(evaluated["defs"], instance, f"{MODEL}|{task}") == StaleStatus.FRESH

    edited = tasks["demo_mini_vqa"]
    tasks["demo_mini_vqa"] = edited.model_copy(
        update={"prompt": edited.prompt.model_copy(update={"system_prompt": "Answer tersely."})}
    )
    assert report_versions(instance, models, tasks) == 1  # only that task's definition changed
    defs = build_definitions(models, tasks, evaluated["settings"])
    assert _status(defs, instance, f"{MODEL}|demo_mini_vqa") == StaleStatus.STALE
    assert _status(defs, instance, f"{MODEL}|synth_vqa_en") == StaleStatus.FRESH
    assert report_versions(instance, models, tasks) == 0  # an unchanged definition is not a change


def test_a_changed_model_entry_marks_only_its_partitions_stale(evaluated) -> None:
    instance, tasks = evaluated["instance"], evaluated["tasks"]
    other = load_model_registry()["tiny-qwen2.5-vl"]
    models = {**evaluated["models"], other.name: other}
    report_versions(instance, models, tasks)
    changed = {**models, MODEL: models[MODEL].with_params({"engine": "rapidocr"})}
    assert report_versions(instance, changed, tasks) == 1
    defs = build_definitions(changed, tasks, evaluated["settings"])
    for task in TASKS:
        assert _status(defs, instance, f"{MODEL}|{task}") == StaleStatus.STALE
        assert _status(defs, instance, f"{other.name}|{task}") == StaleStatus.MISSING  # untouched: never run


def test_the_leaderboard_is_requested_once_new_scores_land(evaluated) -> None:
    """What the `leaderboard_after_evaluation` sensor (running by default, also in `vlmbench dev`) decides,
    evaluated by Dagster's own automation engine on the instance's real materializations."""
    defs, instance = evaluated["defs"], evaluated["instance"]
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    run = defs.resolve_job_def("evaluate").execute_in_process(
        partition_key=evaluation_partition_key(MODEL, "synth_vqa_en"), instance=instance
    )
    assert run.success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=baseline.cursor)
    assert after.get_requested_partitions(dg.AssetKey("leaderboard")) == {None}
    assert defs.resolve_job_def("leaderboard_job").execute_in_process(instance=instance).success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
    assert settled.total_requested == 0  # nothing new since the leaderboard was built
