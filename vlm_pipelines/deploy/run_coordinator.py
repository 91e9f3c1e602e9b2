"""`GpuQueuedRunCoordinator`: Dagster's queued run coordinator, with the GPUs a run needs read from the run
itself.

Every run enters the queue through `submit_run`, however it was launched: the UI or GraphQL, a backfill, a
sensor, the schedule, submit mode, or the instance's retry of a failed run. Here the run's partition (model x
task) and the assets it materializes say whether it answers with a model (`predictions`) and how many GPUs
that model takes (`vlm_pipelines.gpus.gpus_needed`: the entry's `gpus`, vLLM's tensor-parallel size, 1 for a
transformers model on `device: auto|cuda`, 0 for OCR and HTTP clients). Before the run is queued its tags
get:

- `vlmbench/gpus: k`, which `GpuDockerRunLauncher` turns into k free devices of the host;
- `vlmbench/gpu-run: true|false`, which the queue's tag limit counts (the host's or cluster's GPUs), so a
  CPU or HTTP-client run never waits for a GPU;
- for k > 0, `dagster-k8s/config` asking Kubernetes for `nvidia.com/gpu: k`;
- the devices and container a retry copied from its parent cleared: a retry gets free devices of its own.

Configured as QueuedRunCoordinator is (same fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dagster import AssetKey
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from vlm_pipelines.gpus import DEVICES_TAG, GPU_RUN_TAG, GPUS_TAG, HOLDER_TAG, gpus_needed, k8s_gpu_config

K8S_CONFIG_TAG = "dagster-k8s/config"
MODEL_INFERENCE_JOBS = ("evaluate", "inference")  # the jobs whose selection holds `predictions`


def answers_with_a_model(run: DagsterRun) -> bool:
    """Whether the run materializes `predictions` (the only step that loads a model)."""
    if run.asset_selection is not None:
        return AssetKey("predictions") in run.asset_selection
    return run.job_name in MODEL_INFERENCE_JOBS


def partition_model(tags: Mapping[str, str]) -> str | None:
    """The model dimension of a model x task partition run (`dagster/partition` is `model|task`)."""
    model = tags.get("dagster/partition/model")
    if model:
        return model
    key = tags.get("dagster/partition", "")
    return key.split("|", 1)[0] if "|" in key else None


def run_gpus(run: DagsterRun, models: Mapping | None = None) -> int:
    """The GPUs this run's inference takes: 0 for a run that loads no model or whose model is unknown here
    (such a run fails in its own process with the reason)."""
    if not answers_with_a_model(run):
        return 0
    name = partition_model(run.tags)
    if models is None:
        from vlm_pipelines.model_registry import load_model_registry

        models = load_model_registry()
    entry = models.get(name) if name else None
    if entry is None:
        return 0
    from model_interface import UnknownModelError

    try:
        return gpus_needed(entry)
    except UnknownModelError:
        return 0


def placement_tags(gpus: int) -> dict[str, str]:
    """The tags a run needing `gpus` devices is queued with (see the module docstring)."""
    tags = {GPUS_TAG: str(gpus), GPU_RUN_TAG: "true" if gpus else "false", DEVICES_TAG: "", HOLDER_TAG: ""}
    if gpus:
        tags[K8S_CONFIG_TAG] = json.dumps(k8s_gpu_config(gpus))
    return tags


class GpuQueuedRunCoordinator(QueuedRunCoordinator):
    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if run.status == DagsterRunStatus.NOT_STARTED:
            self._instance.add_run_tags(run.run_id, placement_tags(run_gpus(run)))
            run = self._instance.get_run_by_id(run.run_id)
        return super().submit_run(SubmitRunContext(run, context.workspace))
