"""GPU discovery and assignment with simulated device lists (there is no GPU here)."""

from __future__ import annotations

import subprocess

import pytest

from vlm_pipelines.gpus import (
    DEVICES_TAG,
    HOLDER_TAG,
    Gpu,
    NoFreeGpuError,
    assign_devices,
    discover_gpus,
    gpus_needed,
    held_devices,
    parse_nvidia_smi,
    without_reserved,
)
from vlm_pipelines.model_registry import ad_hoc_model

NVIDIA_SMI = """0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559
1, GPU-bbbb, NVIDIA H100 80GB HBM3, 81559
2, GPU-cccc, NVIDIA H100 80GB HBM3, 81559
3, GPU-dddd, NVIDIA H100 80GB HBM3, 81559
"""
FOUR = parse_nvidia_smi(NVIDIA_SMI)


def test_nvidia_smi_output_is_read_into_devices() -> None:
    assert FOUR[0] == Gpu(0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 81559)
    assert [gpu.index for gpu in FOUR] == [0, 1, 2, 3]


def test_discovery_asks_nvidia_smi_when_nvml_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vlm_pipelines.gpus._nvml_gpus", lambda: None)
    monkeypatch.setattr("vlm_pipelines.gpus.shutil.which", lambda name: "/usr/bin/nvidia-smi")
    calls = []

    def fake_run(command, **kwargs):  # the driver's tool (there is no driver here)
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=NVIDIA_SMI, stderr="")

    assert discover_gpus(run=fake_run) == FOUR
    assert calls[0][1] == "--query-gpu=index,uuid,name,memory.total"


def test_no_driver_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vlm_pipelines.gpus._nvml_gpus", lambda: None)
    monkeypatch.setattr("vlm_pipelines.gpus.shutil.which", lambda name: None)
    assert discover_gpus() == []


def test_n_gpus_run_n_single_gpu_runs_each_on_its_own_device() -> None:
    holders: dict[str, list[str]] = {}
    for number in range(4):
        devices, dead = assign_devices(FOUR, holders, 1)
        holders[f"run-{number}"] = [gpu.uuid for gpu in devices]
        assert dead == []
    assert sorted(uuid for uuids in holders.values() for uuid in uuids) == [gpu.uuid for gpu in FOUR]
    with pytest.raises(NoFreeGpuError, match="needs 1 GPU.*0 of 4 free"):
        assign_devices(FOUR, holders, 1)


def test_tensor_parallel_k_takes_k_devices_and_never_shares() -> None:
    devices, _ = assign_devices(FOUR, {"tp1": ["GPU-bbbb"]}, 2)
    assert [gpu.uuid for gpu in devices] == ["GPU-aaaa", "GPU-cccc"]
    with pytest.raises(NoFreeGpuError, match="needs 2 GPU"):
        assign_devices(FOUR, {"a": ["GPU-aaaa", "GPU-bbbb"], "b": ["GPU-cccc"]}, 2)
    with pytest.raises(NoFreeGpuError, match="needs 8 GPUs; this host has 4"):
        assign_devices(FOUR, {}, 8)


def test_a_run_that_died_holding_devices_gives_them_back() -> None:
    holders = {"crashed": ["GPU-aaaa", "GPU-bbbb"], "alive": ["GPU-cccc", "GPU-dddd"]}
    devices, dead = assign_devices(FOUR, holders, 2, alive=lambda run_id: run_id != "crashed")
    assert dead == ["crashed"]
    assert [gpu.uuid for gpu in devices] == ["GPU-aaaa", "GPU-bbbb"]


def test_held_devices_come_from_the_runs_tags_and_a_retrys_copied_devices_are_not_its_own() -> None:
    tags = {
        "r1": {DEVICES_TAG: "GPU-aaaa,GPU-bbbb", HOLDER_TAG: "r1"},
        "r2": {"other": "x"},
        "r3": {DEVICES_TAG: ""},
        "r1-retry": {DEVICES_TAG: "GPU-aaaa,GPU-bbbb", HOLDER_TAG: "r1"},  # copied from its parent
    }
    assert held_devices(tags) == {"r1": ["GPU-aaaa", "GPU-bbbb"]}


def test_gpus_given_to_the_model_service_are_not_assigned_to_runs() -> None:
    assert [gpu.index for gpu in without_reserved(FOUR, "0")] == [1, 2, 3]
    assert [gpu.index for gpu in without_reserved(FOUR, "GPU-bbbb, 3")] == [0, 2]
    assert without_reserved(FOUR, "") == FOUR


@pytest.mark.requires("vllm")
def test_a_vllm_model_takes_its_tensor_parallel_size() -> None:
    assert gpus_needed(ad_hoc_model("qwen2.5-vl-7b-vllm", {"tensor_parallel_size": 2})) == 2


def test_how_many_gpus_a_model_takes() -> None:
    assert gpus_needed(ad_hoc_model("qwen2.5-vl-7b")) == 1  # transformers, device auto
    assert gpus_needed(ad_hoc_model("smollm2-135m", {"device": "cpu"})) == 0
    assert gpus_needed(ad_hoc_model("ocr-rules")) == 0
    assert gpus_needed(ad_hoc_model("ocr-rules").model_copy(update={"gpus": 1})) == 1
