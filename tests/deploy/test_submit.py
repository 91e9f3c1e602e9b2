"""Submit mode for real: a Dagster webserver over the project (its own instance, runs launched as
subprocesses), and `vlmbench run --deployment URL` submitting to it through GraphQL and following the
runs to the end."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from tests.pipeline.conftest import REPO_ROOT, run_vlmbench
from tests.processes import free_port, stop_process_group
from vlm_pipelines.defs.runner import EvaluationPlan
from vlm_pipelines.deploy.submit import DeploymentRunner
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.tasks import load_task_registry

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def webserver(env: dict[str, str]):
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-m", "vlm_pipelines.definitions", "-a", "defs",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the webserver did not answer within 180 s"
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(process)


def test_run_submits_to_a_deployment_and_follows_its_runs(project_env: dict[str, str], capsys) -> None:
    home = Path(project_env["DAGSTER_HOME"])
    # The deployment launches each run at once (no daemon here), in a subprocess of the webserver.
    instance = {
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
    with webserver(project_env) as url:
        # Two tasks in one submission: a stage's runs are all sent before any is followed, so the deployment
        # runs them side by side.
        args = ["run", "--model", "ocr-rules", "--task", "demo_mini_vqa,snils_vqa", "--max-samples", "2",
                "--deployment", url]  # fmt: skip
        code, out, err = run_vlmbench(args, capsys)
        assert code == 0, err + out
        said = out.splitlines()
        submitted = [number for number, line in enumerate(said) if "submitted run" in line]
        assert len(submitted) == 5 and out.count(": success") == 5
        assert f"{url}/runs/" in out
        # a run's status lines are indented; both datasets are sent, then followed
        statuses = [n for n in range(submitted[0], len(said)) if said[n].startswith("     ")]
        assert submitted[1] == submitted[0] + 1 and statuses[0] > submitted[1]
        evaluations = [line for line in said if "submitted run" in line and "ocr-rules x" in line]
        assert len(evaluations) == 2
        assert said.index(evaluations[1]) == said.index(evaluations[0]) + 1

        code, out, err = run_vlmbench(
            ["run", "--model", "ocr-rules", "--dataset", "x", "--deployment", url], capsys
        )
        assert code == 2 and "--dataset cannot be sent to a deployment" in err
    with dg.DagsterInstance.get() as instance:  # the deployment's instance recorded the runs
        runs = instance.get_runs()
        expected_jobs = ["datasets"] * 2 + ["evaluate"] * 2 + ["leaderboard_job"]
        assert sorted(run.job_name for run in runs) == expected_jobs
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        evaluate = next(run for run in reversed(runs) if run.job_name == "evaluate")  # the first sent
        assert evaluate.tags["dagster/partition"] == "ocr-rules|demo_mini_vqa"
        assert evaluate.run_config["resources"]["evaluation"]["config"] == {"max_samples": 2}
    predictions = Path(project_env["VLMBENCH_DATA_DIR"]) / "predictions" / "ocr-rules" / "demo_mini_vqa"
    assert len(list(predictions.glob("*.parquet"))) >= 1


def test_an_unreachable_deployment_is_one_line(project_env: dict[str, str], capsys) -> None:
    port = free_port()
    code, out, err = run_vlmbench(
        [
            "run",
            "--model",
            "ocr-rules",
            "--task",
            "demo_mini_vqa",
            "--deployment",
            f"http://127.0.0.1:{port}",
        ],
        capsys,
    )
    assert code == 1
    assert f"cannot reach the deployment at http://127.0.0.1:{port}" in err and "Traceback" not in err


class SplitDeployment:
    """Stands in for a remote deployment's GraphQL API whose code server splits inference from scoring
    (a real one needs its daemon's sensor, 30 s a tick): it answers the runner's queries from a script."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict]] = []
        self.polls: dict[str, int] = {}

    def submit_job_execution(self, job: str, run_config: dict, tags: dict) -> str:
        self.submitted.append((job, tags))
        return f"{job}-{len(self.submitted)}"

    def get_run_status(self, run_id: str):
        self.polls[run_id] = self.polls.get(run_id, 0) + 1
        return dg.DagsterRunStatus.SUCCESS if self.polls[run_id] > 1 else dg.DagsterRunStatus.STARTED

    def _execute(self, query: str, variables: dict | None = None) -> dict:
        if "SensorTargets" in query:
            sensor = {"name": "model_release_sensor", "targets": [{"pipelineName": "inference"}]}
            return {"repositoriesOrError": {"nodes": [{"sensors": [sensor]}]}}
        if "RunByKey" in query:  # the scoring sensor's run shows up on the second look
            key = variables["key"]
            self.polls[key] = self.polls.get(key, 0) + 1
            found = [{"runId": f"scoring-of-{key.removeprefix('score:')}"}] if self.polls[key] > 1 else []
            return {"runsOrError": {"results": found}}
        raise AssertionError(query)


def test_a_split_deployment_gets_inference_runs_followed_into_their_scoring_runs(monkeypatch) -> None:
    deployment = SplitDeployment()
    monkeypatch.setattr("vlm_pipelines.deploy.submit.graphql_client", lambda url: deployment)
    monkeypatch.setattr(DeploymentRunner, "_check_reachable", lambda self: None)
    tasks = load_task_registry()
    models = load_model_registry()
    plan = EvaluationPlan(
        {name: models[name] for name in ("ocr-rules", "qwen2.5-vl-3b")},
        {"demo_mini_vqa": tasks["demo_mini_vqa"]},
    )
    said: list[str] = []
    report = DeploymentRunner("http://deployment:3000", poll_s=0, say=said.append).run(
        plan, lambda outcome: None
    )
    jobs = [job for job, _ in deployment.submitted]
    assert jobs == ["datasets", "inference", "inference", "leaderboard_job"]
    evaluations = [step for step in report.steps if step.kind == "evaluate"]
    assert [step.run_id for step in evaluations] == ["scoring-of-inference-2", "scoring-of-inference-3"]
    assert all(step.ok for step in report.steps)
    # Only the partition goes with a run: its GPUs are the deployment's run coordinator's to derive.
    assert deployment.submitted[1][1] == {
        "dagster/partition": "ocr-rules|demo_mini_vqa",
        "dagster/partition/model": "ocr-rules",
        "dagster/partition/task": "demo_mini_vqa",
    }
    assert sum("scoring in run" in line for line in said) == 2
