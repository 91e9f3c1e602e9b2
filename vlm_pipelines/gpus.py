"""GPU discovery and assignment for inference runs (the WorkerManager of the original design).

- GPUs are found at start through NVML (`nvidia-ml-py`, where installed) or `nvidia-smi`; never configured
  by hand. No driver: no GPUs, and every run is a CPU run.
- A run holds its devices in its `vlmbench/gpu_devices` tag (device UUIDs) while it is launched and not
  finished, with its own run id in `vlmbench/gpu_holder` (a retry copies its parent's tags; a copied
  holder names the parent, so it holds nothing). Any process that can read the Dagster instance sees which
  devices are taken; no extra state to keep.
- GPUs given to something else on the host (the model service: `VLMBENCH_RESERVED_GPUS`, indices or
  UUIDs) are not assigned to runs.
- A run that needs k devices (tensor parallelism k) gets k free ones, lowest index first, or none: two runs
  never share a GPU. A run that died while holding devices (its container is gone but its status says
  it is running) is found dead by the caller's `alive` check, and its devices are free again.
Plain Python: the Docker launcher (`vlm_pipelines.deploy.docker_launcher`) and the tests call it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

GPUS_TAG = "vlmbench/gpus"  # how many devices a run needs
GPU_RUN_TAG = "vlmbench/gpu-run"  # "true" for a run that needs any: the queue's tag limit counts these
DEVICES_TAG = "vlmbench/gpu_devices"  # the UUIDs it holds, comma-separated
HOLDER_TAG = "vlmbench/gpu_holder"  # the run id the devices were assigned to


@dataclass(frozen=True, order=True)
class Gpu:
    index: int
    uuid: str
    name: str = ""
    memory_mib: int = 0


class NoFreeGpuError(RuntimeError):
    pass


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """`nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits` output."""
    gpus = []
    for line in text.strip().splitlines():
        index, uuid, name, memory = (part.strip() for part in line.split(","))
        gpus.append(Gpu(int(index), uuid, name, int(float(memory))))
    return sorted(gpus)


def _nvml_gpus() -> list[Gpu] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20
            gpus.append(
                Gpu(index, pynvml.nvmlDeviceGetUUID(handle), pynvml.nvmlDeviceGetName(handle), memory)
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def discover_gpus(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[Gpu]:
    """This host's GPUs: NVML first, then `nvidia-smi`; [] without a driver."""
    found = _nvml_gpus()
    if found is not None:
        return found
    if shutil.which("nvidia-smi") is None:
        return []
    done = run(
        ["nvidia-smi", "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def without_reserved(gpus: Sequence[Gpu], reserved: str) -> list[Gpu]:
    """The GPUs left for runs when `reserved` (comma-separated indices or UUIDs, e.g. the model service's
    "0") are given to something else."""
    names = {name.strip() for name in reserved.split(",") if name.strip()}
    return [gpu for gpu in gpus if str(gpu.index) not in names and gpu.uuid not in names]


def run_gpus_of_host() -> list[Gpu]:
    """This host's GPUs that runs may take: all of them but `VLMBENCH_RESERVED_GPUS`."""
    return without_reserved(discover_gpus(), os.environ.get("VLMBENCH_RESERVED_GPUS", ""))


def held_devices(tags_by_run: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Device UUIDs held, by run id, from the tags of launched runs that are not finished; devices a run
    copied from its parent (a retry) are not its own."""
    return {
        run_id: [uuid for uuid in tags[DEVICES_TAG].split(",") if uuid]
        for run_id, tags in tags_by_run.items()
        if tags.get(DEVICES_TAG) and tags.get(HOLDER_TAG) == run_id
    }


def assign_devices(
    gpus: Sequence[Gpu],
    holders: Mapping[str, Sequence[str]],
    wanted: int,
    alive: Callable[[str], bool] = lambda run_id: True,
) -> tuple[list[Gpu], list[str]]:
    """`wanted` free GPUs (lowest index first) and the ids of dead holders whose devices were taken back.
    Raises NoFreeGpuError when fewer are free (the run should wait for a slot, not share one)."""
    if wanted > len(gpus):
        raise NoFreeGpuError(f"the run needs {wanted} GPUs; this host has {len(gpus)}")
    dead = [run_id for run_id in holders if not alive(run_id)]
    taken = {uuid for run_id, uuids in holders.items() if run_id not in dead for uuid in uuids}
    free = [gpu for gpu in sorted(gpus) if gpu.uuid not in taken]
    if len(free) < wanted:
        busy = ", ".join(
            f"{run_id[:8]}: {len(uuids)}" for run_id, uuids in holders.items() if run_id not in dead
        )
        raise NoFreeGpuError(
            f"the run needs {wanted} GPU(s); {len(free)} of {len(gpus)} free (held by {busy})"
        )
    return free[:wanted], dead


def device_request(uuids: Iterable[str]) -> dict:
    """A Docker `device_requests` entry pinning exactly these devices (docker-py `DeviceRequest` keywords)."""
    return {"driver": "nvidia", "device_ids": list(uuids), "capabilities": [["gpu"]]}


def k8s_gpu_config(gpus: int) -> dict:
    """The `dagster-k8s/config` run tag of an inference run on k GPUs (docker/k8s/inference-run-tag.yaml
    for k = 1): the NVIDIA device plugin's `nvidia.com/gpu` resource, and the GPU nodes' taint tolerated."""
    count = str(gpus)
    return {
        "container_config": {
            "resources": {
                "requests": {"cpu": str(4 * gpus), "memory": f"{32 * gpus}Gi", "nvidia.com/gpu": count},
                "limits": {"memory": f"{64 * gpus}Gi", "nvidia.com/gpu": count},
            }
        },
        "pod_spec_config": {
            "node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


def gpus_needed(entry) -> int:
    """GPUs an inference run of a model registry entry takes: its `gpus`, else `tensor_parallel_size` for
    vLLM, 1 for a transformers model on device auto/cuda, 0 for the rest (OCR, HTTP clients)."""
    if entry.gpus is not None:
        return entry.gpus
    from model_interface import get_spec

    package = get_spec(entry.model).package
    if package == "model-vllm":
        return int(entry.params.get("tensor_parallel_size", 1))
    if package == "model-hf" and entry.params.get("device", "auto") in ("auto", "cuda"):
        return 1
    return 0
