"""What the Dagster UI shows: CLI runs under their jobs, the leaderboard's model x task grid, the models that
cannot run here, and in-process execution for every job, the UI's "Materialize" included."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from tests.pipeline.conftest import REPO_ROOT
from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.defs.partitions import evaluation_partition_key
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.defs.runner import EvaluationPlan, InProcessRunner
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.tasks import load_task_registry

MODEL, TASKS = "ocr-rules", ("demo_mini_vqa", "synth_vqa_en")
# workspace.yaml's python_module location: Dagster names it after the module and attribute.
LOCATION = "vlm_pipelines.definitions:defs"
UI_REPOSITORY = f"__repository__@{LOCATION}"

JOB_RUNS = """
query ($job: String!, $location: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: "__repository__",
                           repositoryLocationName: $location}) {
    ... on Pipeline { runs { runId } }
    ... on PythonError { message }
    ... on PipelineNotFoundError { message }
  }
  runsOrError(filter: {pipelineName: $job}) {
    ... on Runs { results { runId repositoryOrigin { repositoryName repositoryLocationName } } }
  }
}
"""


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory):
    """One `vlmbench run` plan (ocr-rules on two tasks, 3 samples each) through the CLI's runner."""
    root = tmp_path_factory.mktemp("ui")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VLMBENCH_DATA_DIR", str(root / "data"))
        env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        tasks = load_task_registry()
        plan = EvaluationPlan(
            models={MODEL: load_model_registry()[MODEL]},
            tasks={name: tasks[name] for name in TASKS},
            max_samples=3,
        )
        report = InProcessRunner(quiet=True).run(plan, on_step=lambda outcome: None)
        assert not report.failures, [step.message for step in report.failures]
        with dg.DagsterInstance.get() as instance:
            yield report, instance


def test_cli_runs_are_filed_under_their_jobs_as_the_ui_lists_them(cli_run) -> None:
    report, instance = cli_run
    for kind, job in (("dataset", "datasets"), ("evaluate", "evaluate"), ("leaderboard", "leaderboard_job")):
        expected = {step.run_id for step in report.steps if step.kind == kind}
        listed = instance.get_runs(dg.RunsFilter(job_name=job, tags={REPOSITORY_LABEL_TAG: UI_REPOSITORY}))
        assert {run.run_id for run in listed} == expected
        for run in listed:
            assert run.remote_job_origin.job_name == job
            assert run.remote_job_origin.repository_origin.get_label() == UI_REPOSITORY


def test_the_webservers_graphql_lists_the_cli_runs_under_the_job_and_its_repository(cli_run) -> None:
    """The UI's own queries, against the code location that workspace.yaml (`vlmbench dev`) loads: the job
    page's runs, and the runs with the repository origin that places them on the Overview timeline."""
    report, instance = cli_run
    evaluated = {step.run_id for step in report.steps if step.kind == "evaluate"}
    assert len(evaluated) == len(TASKS)
    with define_out_of_process_context(str(REPO_ROOT / "workspace.yaml"), None, instance) as context:
        data = execute_dagster_graphql(context, JOB_RUNS, {"job": "evaluate", "location": LOCATION}).data
    assert {run["runId"] for run in data["pipelineOrError"]["runs"]} == evaluated
    origins = {run["runId"]: run["repositoryOrigin"] for run in data["runsOrError"]["results"]}
    assert origins == {
        run_id: {"repositoryName": "__repository__", "repositoryLocationName": LOCATION}
        for run_id in evaluated
    }


def test_the_leaderboard_metadata_is_a_model_by_task_grid_of_the_main_scores(cli_run) -> None:
    report, _ = cli_run
    (leaderboard,) = [step for step in report.steps if step.kind == "leaderboard"]
    scored = {
        step.task: (step.metadata["sample_metrics.mean_anls"], step.metadata["sample_metrics.samples"])
        for step in report.steps
        if step.kind == "evaluate"
    }
    records = {r.data["task"]: r.data for r in leaderboard.metadata["leaderboard.scores table"].records}
    assert {task: (r["model"], r["metric"], r["n"], r["best"]) for task, r in records.items()} == {
        task: (MODEL, "anls", n, True) for task, (_, n) in scored.items()
    }
    for task, record in records.items():
        assert record["mean"] == pytest.approx(scored[task][0])
        assert record["ci_low"] <= record["mean"] <= record["ci_high"]

    grid = leaderboard.metadata["leaderboard.scores"].splitlines()
    assert grid[0] == "| model | demo_mini_vqa (anls) | synth_vqa_en (anls) |"
    (row,) = grid[2:]
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        MODEL,
        *(
            f"**{r['mean']:.3f}** [{r['ci_low']:.3f}, {r['ci_high']:.3f}] n={r['n']}"  # the only model: best
            for r in (records["demo_mini_vqa"], records["synth_vqa_en"])
        ),
    ]


def test_models_that_cannot_run_here_are_named_in_the_description_and_fail_at_once(tmp_path) -> None:
    registry = load_model_registry()
    missing = registry["qwen2.5-vl-3b"].model_copy(update={"name": "qwen-elsewhere"})
    models = {MODEL: registry[MODEL], "qwen-elsewhere": missing.with_params({"model_path": "/no/such/dir"})}
    tasks = {"synth_vqa_en": load_task_registry()["synth_vqa_en"]}
    defs = build_definitions(models, tasks, EvaluationSettings(data_dir=str(tmp_path)))
    description = defs.resolve_assets_def("predictions").specs_by_key[dg.AssetKey("predictions")].description
    (listed,) = [line for line in description.splitlines() if line.startswith("- ")]
    reason = "qwen2.5-vl-3b: model_path '/no/such/dir' has no config.json"
    assert listed == f"- `qwen-elsewhere`: {reason}"

    with dg.instance_for_test() as instance:
        run = defs.resolve_job_def("evaluate").execute_in_process(
            partition_key=evaluation_partition_key("qwen-elsewhere", "synth_vqa_en"),
            instance=instance,
            raise_on_error=False,
        )
    (failure,) = [event for event in run.all_events if event.is_step_failure]
    assert failure.step_key == "predictions"
    assert reason in failure.event_specific_data.error.message


def test_every_job_runs_its_steps_in_the_runs_process() -> None:
    """The UI's "Materialize" runs the implicit asset job: in process too, like the named jobs."""
    defs = build_definitions()
    jobs = [defs.resolve_implicit_global_asset_job_def()] + [
        defs.resolve_job_def(name)
        for name in ("datasets", "evaluate", "inference", "scoring", "leaderboard_job")
    ]
    assert {job.name: job.executor_def.name for job in jobs} == {job.name: "in_process" for job in jobs}
