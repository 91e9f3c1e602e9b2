"""`GpuDockerRunLauncher` against a real Dagster instance. The Docker engine is the one stand-in (a
recording client: its container-create arguments are what is checked); tests/deploy/test_docker.py runs
a launch on a real engine."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.test_utils import create_run_for_test

from tests.deploy.test_gpu_assignment import FOUR
from vlm_pipelines.deploy.docker_launcher import GpuDockerRunLauncher
from vlm_pipelines.gpus import DEVICES_TAG, GPUS_TAG, HOLDER_TAG, NoFreeGpuError

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RecordedContainer:
    id: str
    kwargs: dict
    status: str = "created"
    attrs: dict = field(default_factory=dict)

    def start(self) -> None:
        self.status = "running"


@dataclass
class RecordingDockerClient:
    created: list[RecordedContainer] = field(default_factory=list)

    @property
    def containers(self):
        return self

    def create(self, **kwargs) -> RecordedContainer:
        container = RecordedContainer(id=f"c{len(self.created)}", kwargs=kwargs)
        self.created.append(container)
        return container

    def get(self, container_id: str) -> RecordedContainer:
        return next(c for c in self.created if c.id == container_id)


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    client = RecordingDockerClient()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        launcher = GpuDockerRunLauncher(
            image="vlmbench:test",
            network="host",
            container_kwargs={
                "device_requests": [{"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}]
            },
        )
        launcher.register_instance(instance)
        launcher.gpus = list(FOUR[:2])  # a simulated two-GPU host
        monkeypatch.setattr(launcher, "_get_client", lambda context: client)
        yield launcher, instance, client


def _launch(launcher, instance, job_name: str, tags: dict[str, str], status=dg.DagsterRunStatus.STARTED):
    origin = JobPythonOrigin(
        job_name,
        RepositoryPythonOrigin(
            sys.executable, ModuleCodePointer("vlm_pipelines.definitions", "defs", str(REPO_ROOT))
        ),
    )
    # STARTED from the outset: the container's own process would report that once it runs.
    run = create_run_for_test(instance, job_name=job_name, tags=tags, job_code_origin=origin, status=status)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    return instance.get_run_by_id(run.run_id)


def test_each_inference_run_is_pinned_to_its_own_gpu_and_cpu_runs_get_none(launcher) -> None:
    launcher, instance, client = launcher
    first = _launch(launcher, instance, "inference", {GPUS_TAG: "1"})
    second = _launch(launcher, instance, "inference", {GPUS_TAG: "1"})
    scoring = _launch(launcher, instance, "scoring", {})
    requests = [container.kwargs.get("device_requests") for container in client.created]
    assert requests[0] == [{"driver": "nvidia", "device_ids": ["GPU-aaaa"], "capabilities": [["gpu"]]}]
    assert requests[1] == [{"driver": "nvidia", "device_ids": ["GPU-bbbb"], "capabilities": [["gpu"]]}]
    assert requests[2] is None  # the launcher's count=-1 request never reaches a CPU run
    assert (first.tags[DEVICES_TAG], second.tags[DEVICES_TAG]) == ("GPU-aaaa", "GPU-bbbb")
    assert DEVICES_TAG not in scoring.tags
    assert client.created[0].kwargs["network"] == "host"
    # A third waits in the queue (test_gpu_placement.py, with queued runs from a real workspace); one
    # needing more GPUs than the host has fails at once.
    with pytest.raises(NoFreeGpuError, match="needs 3 GPU.*gives runs 2"):
        _launch(launcher, instance, "inference", {GPUS_TAG: "3"})


def test_a_queued_retry_with_its_parents_tags_is_neither_a_holder_nor_failed_as_dead(launcher) -> None:
    launcher, instance, client = launcher
    parent = _launch(launcher, instance, "inference", {GPUS_TAG: "1"})
    client.created[0].status = "exited"
    instance.report_run_failed(parent, "container exited")
    copied = {key: value for key, value in parent.tags.items() if key.startswith(("vlmbench/", "docker/"))}
    # Not launched yet (a queued run would also need a workspace origin: test_gpu_placement.py has one).
    retry = create_run_for_test(
        instance, job_name="inference", tags=copied, status=dg.DagsterRunStatus.NOT_STARTED
    )
    other = _launch(launcher, instance, "inference", {GPUS_TAG: "2"})  # needs both: the parent's is free
    assert sorted(other.tags[DEVICES_TAG].split(",")) == ["GPU-aaaa", "GPU-bbbb"]
    assert other.tags[HOLDER_TAG] == other.run_id
    assert instance.get_run_by_id(retry.run_id).status == dg.DagsterRunStatus.NOT_STARTED


def test_a_run_whose_container_died_gives_its_gpu_to_the_next(launcher) -> None:
    launcher, instance, client = launcher
    crashed = _launch(launcher, instance, "inference", {GPUS_TAG: "2"})
    client.created[0].status = "exited"  # the container died; the run still says STARTED
    assert instance.get_run_by_id(crashed.run_id).status == dg.DagsterRunStatus.STARTED
    after = _launch(launcher, instance, "inference", {GPUS_TAG: "1"})
    assert after.tags[DEVICES_TAG] == "GPU-aaaa"
    assert instance.get_run_by_id(crashed.run_id).status == dg.DagsterRunStatus.FAILURE
