"""Every asset of one model x task partition, materialized in process, with its checks and metric values."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.defs.partitions import evaluation_partition_key
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.evaluation import EvaluationPaths, load_dataset, load_predictions, select
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.postprocess import postprocess
from vlm_pipelines.tasks import load_task_registry

MODEL, TASK = "ocr-rules", "synth_vqa_en"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("data")
    models = {MODEL: load_model_registry()[MODEL]}
    tasks = {TASK: load_task_registry()[TASK]}
    defs = build_definitions(models, tasks, EvaluationSettings(data_dir=str(data_dir), max_samples=24))
    with dg.instance_for_test() as instance:
        dataset_run = defs.resolve_job_def("datasets").execute_in_process(
            partition_key=TASK, instance=instance
        )
        evaluate_run = defs.resolve_job_def("evaluate").execute_in_process(
            partition_key=evaluation_partition_key(MODEL, TASK), instance=instance
        )
        leaderboard_run = defs.resolve_job_def("leaderboard_job").execute_in_process(instance=instance)
        yield {
            "paths": EvaluationPaths(Path(data_dir)),
            "entry": models[MODEL],
            "task": tasks[TASK],
            "runs": (dataset_run, evaluate_run, leaderboard_run),
        }


def test_every_asset_materializes_and_every_check_passes(evaluated) -> None:
    materialized, checks = set(), {}
    for run in evaluated["runs"]:
        assert run.success
        materialized |= {event.asset_key.to_user_string() for event in run.get_asset_materialization_events()}
        checks |= {
            (e.asset_key.to_user_string(), e.check_name): e.passed for e in run.get_asset_check_evaluations()
        }
    assert materialized == {
        "dataset",
        "dataset_quarantine",
        "predictions",
        "sample_metrics",
        "task_report",
        "leaderboard",
    }
    assert checks == {
        ("dataset", "schema"): True,
        ("dataset", "quarantine_share"): True,
        ("dataset", "order_references"): True,
        ("dataset", "conflicting_duplicates"): True,
        ("predictions", "schema"): True,
        ("predictions", "coverage"): True,
        ("sample_metrics", "schema"): True,
    }


def test_scores_equal_the_metrics_recomputed_from_the_stored_answers(evaluated) -> None:
    paths, entry, task = evaluated["paths"], evaluated["entry"], evaluated["task"]
    assert load_dataset(task, paths).height == 62  # the stored dataset is whole; the run selected 24
    samples = select(task, paths, 24)[1]
    predictions = load_predictions(entry, task, paths)
    scores = pl.read_parquet(next((paths.results / TASK / MODEL).glob("*/sample_metrics.parquet")))
    assert scores.height == samples.height == predictions.height == 24

    joined = samples.join(predictions.select("sample_id", "text"), on="sample_id").join(
        scores.select("sample_id", *task.metrics), on="sample_id"
    )
    for metric in task.metrics:
        for row in joined.iter_rows(named=True):
            answer = (
                postprocess(row["text"], task.postprocess, field_name=row["field_name"])
                if row["text"]
                else ""
            )
            assert row[metric] == pytest.approx(get_metric(metric)(answer, row["answers"])), (metric, row)
    # ocr-rules really reads these clean synthetic pages.
    assert scores["anls"].mean() >= 0.7
    assert scores["failed"].sum() == 0
    assert set(scores["dataset_hash"].unique()) != {""}
    assert set(scores["prompt_hash"].unique()) == set(predictions["prompt_hash"].unique())


def test_report_and_leaderboard_files_exist(evaluated) -> None:
    paths = evaluated["paths"]
    report = paths.report(MODEL, TASK)
    for name in ("report.md", "report.html", "score_distribution.png"):
        assert (report / name).stat().st_size > 0
    assert list((report / "thumbnails").glob("*.png"))
    board = (paths.leaderboard / "leaderboard.md").read_text()
    assert f"| {TASK} | {MODEL} |" in board
