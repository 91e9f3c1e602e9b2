"""GPU placement from the run itself, through Dagster's own machinery: the project's definitions loaded as a
code location, runs launched through GraphQL with only the partition's tags (as the UI does), a job backfill
run by the backfill daemon, a retry made by the instance's auto re-execution, and the queued run daemon
dequeuing them into `GpuDockerRunLauncher` under `GpuQueuedRunCoordinator`.

Stand-ins, for what cannot run here: the host's GPUs (a simulated two-GPU list instead of NVML) and the
Docker engine (a recording client: its container-create arguments are what is checked; runs therefore stay
STARTING, as they would while their containers start). tests/deploy/test_docker.py launches on a real engine.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import (
    consume_new_runs_for_automatic_reexecution,
)
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster_graphql.test.utils import execute_dagster_graphql

from tests.deploy.test_docker_launcher import RecordingDockerClient
from tests.deploy.test_gpu_assignment import FOUR
from vlm_pipelines.deploy.docker_launcher import WAITING_TAG, GpuDockerRunLauncher
from vlm_pipelines.gpus import DEVICES_TAG, GPU_RUN_TAG, GPUS_TAG, HOLDER_TAG

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCATION = "vlm_pipelines"
TASK = "demo_mini_vqa"
LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
BACKFILL = """
mutation Backfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture
def deployment(project_env, monkeypatch: pytest.MonkeyPatch):
    """A deployment's instance on a simulated two-GPU host, and its workspace (the project's code)."""
    models = Path(project_env["VLMBENCH_DATA_DIR"]) / "models"
    models.mkdir(parents=True)
    two = {"name": "qwen-two-gpus", "model": "qwen2.5-vl-7b", "gpus": 2}  # as tensor_parallel_size: 2 would
    (models / "qwen-two-gpus.yaml").write_text(yaml.safe_dump(two), encoding="utf-8")
    monkeypatch.setattr("vlm_pipelines.gpus.discover_gpus", lambda: list(FOUR[:2]))
    client = RecordingDockerClient()
    monkeypatch.setattr(GpuDockerRunLauncher, "_get_client", lambda self, context: client)
    overrides = {
        "run_coordinator": {
            "module": "vlm_pipelines.deploy.run_coordinator",
            "class": "GpuQueuedRunCoordinator",
        },
        "run_launcher": {
            "module": "vlm_pipelines.deploy.docker_launcher",
            "class": "GpuDockerRunLauncher",
            "config": {"image": "vlmbench:test", "network": "host"},
        },
        "concurrency": {
            "runs": {"tag_concurrency_limits": [{"key": GPU_RUN_TAG, "value": "true", "limit": 2}]}
        },
        "run_retries": {"enabled": True, "max_retries": 1},
    }
    with instance_for_test(overrides=overrides) as instance:
        target = ModuleTarget(
            module_name="vlm_pipelines.definitions",
            attribute="defs",
            working_directory=str(REPO_ROOT),
            location_name=LOCATION,
        )
        with create_test_daemon_workspace_context(target, instance) as workspace:
            yield instance, workspace, client


def _graphql(workspace, query: str, variables: dict) -> dict:
    result = execute_dagster_graphql(workspace.create_request_context(), query, variables)
    assert not result.errors, result.errors
    return result.data


def _launch_as_the_ui(workspace, job: str, model: str) -> str:
    """A launch with the partition's tags only, as the UI's launchpad sends it."""
    partition = f"{model}|{TASK}"
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    launched = _graphql(workspace, LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _dequeue(workspace) -> None:
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(workspace))


def _devices(instance, run_id: str) -> list[str]:
    run = instance.get_run_by_id(run_id)
    assert run.tags.get(HOLDER_TAG) == run_id
    return run.tags[DEVICES_TAG].split(",")


def test_ui_backfill_and_retry_runs_get_distinct_free_gpus_and_a_two_gpu_run_waits(deployment) -> None:
    instance, workspace, client = deployment

    # 1. The UI's launch: no vlmbench tag given; the coordinator derives one GPU from the model.
    ui_run = _launch_as_the_ui(workspace, "inference", "qwen2.5-vl-3b")
    assert instance.get_run_by_id(ui_run).tags[GPUS_TAG] == "1"
    _dequeue(workspace)
    assert _devices(instance, ui_run) == ["GPU-aaaa"]

    # 2. A job backfill of another partition, submitted by the backfill daemon.
    params = {
        "selector": {
            "partitionSetName": "inference_partition_set",
            "repositorySelector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"},
        },
        "partitionNames": [f"qwen2.5-vl-7b|{TASK}"],
    }
    backfill = _graphql(workspace, BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
    list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
    (backfill_run,) = [run.run_id for run in instance.get_runs() if run.run_id != ui_run]
    _dequeue(workspace)
    assert _devices(instance, backfill_run) == ["GPU-bbbb"]

    # 3. The UI run's container dies; the instance retries it. The retry copied its parent's devices and
    #    container, yet it gets the free device (the parent's, now released), never the backfill's.
    client.created[0].status = "exited"
    instance.report_run_failed(instance.get_run_by_id(ui_run), "container exited")
    records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[ui_run]))
    list(consume_new_runs_for_automatic_reexecution(workspace, records, logging.getLogger("retry")))
    retry = instance.get_run_by_id(ui_run).tags["dagster/auto_retry_run_id"]
    assert instance.get_run_by_id(retry).tags[DEVICES_TAG] == ""  # the copied devices are cleared
    _dequeue(workspace)
    assert instance.get_run_by_id(retry).status == dg.DagsterRunStatus.STARTING
    assert _devices(instance, retry) == ["GPU-aaaa"]

    # 4. A CPU model's run takes no GPU and does not wait for one while both are held.
    ocr_run = _launch_as_the_ui(workspace, "inference", "ocr-rules")
    _dequeue(workspace)
    ocr = instance.get_run_by_id(ocr_run)
    assert (ocr.status, ocr.tags[GPUS_TAG], ocr.tags[GPU_RUN_TAG]) == (
        dg.DagsterRunStatus.STARTING,
        "0",
        "false",
    )
    assert client.created[-1].kwargs.get("device_requests") is None

    # 5. A run needing 2 GPUs waits in the queue while either GPU is held, and fails nothing.
    wide = _launch_as_the_ui(workspace, "inference", "qwen-two-gpus")
    _dequeue(workspace)  # two GPU runs hold both devices: the queue's limit keeps it queued
    assert instance.get_run_by_id(wide).status == dg.DagsterRunStatus.QUEUED
    instance.report_run_canceled(instance.get_run_by_id(backfill_run))
    _dequeue(workspace)  # dequeued with one GPU free: the launcher puts it back in the queue
    waiting = instance.get_run_by_id(wide)
    assert waiting.status == dg.DagsterRunStatus.QUEUED
    assert "needs 2 GPU(s); 1 of 2 free" in waiting.tags[WAITING_TAG]
    instance.report_run_canceled(instance.get_run_by_id(retry))
    _dequeue(workspace)
    assert instance.get_run_by_id(wide).status == dg.DagsterRunStatus.STARTING
    assert sorted(_devices(instance, wide)) == ["GPU-aaaa", "GPU-bbbb"]
    requests = client.created[-1].kwargs["device_requests"]
    assert sorted(requests[0]["device_ids"]) == ["GPU-aaaa", "GPU-bbbb"]
    k8s = instance.get_run_by_id(wide).tags["dagster-k8s/config"]
    assert '"nvidia.com/gpu": "2"' in k8s
    assert all(
        run.status != dg.DagsterRunStatus.FAILURE for run in instance.get_runs() if run.run_id != ui_run
    )
