"""`GpuDockerRunLauncher`: Dagster's `DockerRunLauncher`, with each inference run pinned to its own GPUs.

A run needing k GPUs (`vlmbench/gpus: k`, written by `GpuQueuedRunCoordinator` from the run's partition; read
from the partition here too when another coordinator queued it) gets k free devices of this host (all but
`VLMBENCH_RESERVED_GPUS`): the launcher records them in the run's `vlmbench/gpu_devices` and
`vlmbench/gpu_holder` tags and creates the container with a `device_requests` entry naming exactly those
device UUIDs. Every other run (metrics, reports, datasets, OCR and HTTP-client models) gets no GPU, whatever
the launcher's `container_kwargs` say.

When fewer than k devices are free the run goes back to the queue (an engine event says what it waits for,
once) and is tried again at the queue's next pass; a run needing more GPUs than the host gives runs fails
at once with the reason. Configured as DockerRunLauncher is.
"""

from __future__ import annotations

import threading

from dagster._core.events import DagsterEvent
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext

from vlm_pipelines.deploy.run_coordinator import run_gpus
from vlm_pipelines.gpus import (
    DEVICES_TAG,
    GPUS_TAG,
    HOLDER_TAG,
    NoFreeGpuError,
    assign_devices,
    device_request,
    held_devices,
    run_gpus_of_host,
)

_ASSIGNING = threading.Lock()  # one assignment at a time in this process (the daemon's launcher)
_DEAD = (WorkerStatus.FAILED, WorkerStatus.SUCCESS, WorkerStatus.NOT_FOUND)
_LAUNCHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
WAITING_TAG = "vlmbench/gpu_wait"  # what the run last waited for (its engine event is written once)


class GpuDockerRunLauncher(DockerRunLauncher):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gpus = run_gpus_of_host()  # found once, when the daemon (or webserver) starts

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def get_container_context(self, dagster_run) -> DockerContainerContext:
        context = super().get_container_context(dagster_run)
        kwargs = {key: value for key, value in context.container_kwargs.items() if key != "device_requests"}
        devices = dagster_run.tags.get(DEVICES_TAG)
        if devices and dagster_run.tags.get(HOLDER_TAG) == dagster_run.run_id:
            kwargs["device_requests"] = [device_request(devices.split(","))]
        return DockerContainerContext(
            registry=context.registry,
            env_vars=context.env_vars,
            networks=context.networks,
            container_kwargs=kwargs,
        )

    def _holder_alive(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if run.status == DagsterRunStatus.STARTING:
            return True  # its container may not exist yet
        health: CheckRunHealthResult = self.check_run_worker_health(run)
        return health.status not in _DEAD

    def _wanted(self, run) -> int:
        tag = run.tags.get(GPUS_TAG)
        return int(tag) if tag else run_gpus(run)

    def _back_to_queue(self, run, reason: str) -> None:
        """The run waits in the queue for free GPUs instead of failing."""
        if run.tags.get(WAITING_TAG) != reason:
            self._instance.add_run_tags(run.run_id, {WAITING_TAG: reason})
            self._instance.report_engine_event(f"Waiting in the queue: {reason}", run, cls=self.__class__)
        self._instance.report_dagster_event(DagsterEvent.job_enqueue(run), run_id=run.run_id)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        wanted = self._wanted(run)
        if wanted:
            if wanted > len(self.gpus):
                raise NoFreeGpuError(
                    f"the run needs {wanted} GPU(s); this host gives runs {len(self.gpus)} "
                    "(VLMBENCH_RESERVED_GPUS are the model service's)"
                )
            with _ASSIGNING:
                others = self._instance.get_runs(filters=RunsFilter(statuses=_LAUNCHED))
                holders = held_devices(
                    {other.run_id: other.tags for other in others if other.run_id != run.run_id}
                )
                try:
                    devices, dead = assign_devices(self.gpus, holders, wanted, alive=self._holder_alive)
                except NoFreeGpuError as busy:
                    self._back_to_queue(run, str(busy))
                    return
                for run_id in dead:
                    dead_run = self._instance.get_run_by_id(run_id)
                    if dead_run is not None and not dead_run.is_finished:
                        self._instance.report_run_failed(
                            dead_run, "its container is gone; its GPUs were freed"
                        )
                uuids = ",".join(gpu.uuid for gpu in devices)
                self._instance.add_run_tags(run.run_id, {DEVICES_TAG: uuids, HOLDER_TAG: run.run_id})
                self._instance.report_engine_event(
                    f"GPUs assigned: {', '.join(f'{gpu.index} ({gpu.uuid})' for gpu in devices)}",
                    run,
                    cls=self.__class__,
                )
            run = self._instance.get_run_by_id(run.run_id)
            context = LaunchRunContext(dagster_run=run, workspace=context.workspace)
        super().launch_run(context)
