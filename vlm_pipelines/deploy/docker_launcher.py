"""`GpuDockerRunLauncher`: Dagster's `DockerRunLauncher`, with each inference run pinned to its own GPUs.

A run tagged `vlmbench/gpus: k` (k > 0) gets k free devices of this host (`vlm_pipelines.gpus`): the
launcher records them in the run's `vlmbench/gpu_devices` tag and creates the container with a
`device_requests` entry naming exactly those device UUIDs. Every other run (metrics, reports, datasets) gets
no GPU, whatever the launcher's `container_kwargs` say. With no free device the launch fails with the
reason; the daemon's run retries (docker/dagster.yaml) queue it again. Configured as DockerRunLauncher is.
"""

from __future__ import annotations

import threading

from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES, DagsterRunStatus, RunsFilter
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext

from vlm_pipelines.gpus import (
    DEVICES_TAG,
    GPUS_TAG,
    assign_devices,
    device_request,
    discover_gpus,
    held_devices,
)

_ASSIGNING = threading.Lock()  # one assignment at a time in this process (the daemon's launcher)
_DEAD = (WorkerStatus.FAILED, WorkerStatus.SUCCESS, WorkerStatus.NOT_FOUND)


class GpuDockerRunLauncher(DockerRunLauncher):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gpus = discover_gpus()  # found once, when the daemon (or webserver) starts

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def get_container_context(self, dagster_run) -> DockerContainerContext:
        context = super().get_container_context(dagster_run)
        kwargs = {key: value for key, value in context.container_kwargs.items() if key != "device_requests"}
        devices = dagster_run.tags.get(DEVICES_TAG)
        if devices:
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

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        wanted = int(run.tags.get(GPUS_TAG, "0") or 0)
        if wanted and not run.tags.get(DEVICES_TAG):
            with _ASSIGNING:
                others = self._instance.get_runs(filters=RunsFilter(statuses=list(NOT_FINISHED_STATUSES)))
                holders = held_devices(
                    {other.run_id: other.tags for other in others if other.run_id != run.run_id}
                )
                devices, dead = assign_devices(self.gpus, holders, wanted, alive=self._holder_alive)
                for run_id in dead:
                    dead_run = self._instance.get_run_by_id(run_id)
                    if dead_run is not None and not dead_run.is_finished:
                        self._instance.report_run_failed(
                            dead_run, "its container is gone; its GPUs were freed"
                        )
                uuids = ",".join(gpu.uuid for gpu in devices)
                self._instance.add_run_tags(run.run_id, {DEVICES_TAG: uuids})
                self._instance.report_engine_event(
                    f"GPUs assigned: {', '.join(f'{gpu.index} ({gpu.uuid})' for gpu in devices)}",
                    run,
                    cls=self.__class__,
                )
            run = self._instance.get_run_by_id(run.run_id)
            context = LaunchRunContext(dagster_run=run, workspace=context.workspace)
        super().launch_run(context)
