"""Registered ids, cheap import, availability reasons, and where checkpoints are found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import model_vllm
import pytest
from model_vllm import adapter, registry
from model_vllm.adapter import VLLMModel
from model_vllm.checkpoints import cached_snapshot, checkpoint_location, weights_problem
from model_vllm.params import VLLMParams, engine_kwargs


def test_specs_register_the_document_vlms_with_hub_defaults() -> None:
    specs = {spec.model_id: spec for spec in registry.model_specs()}
    assert sorted(specs) == sorted(registry.HUB_CHECKPOINTS)
    assert {"qwen2.5-vl-3b-vllm", "qwen3-vl-2b-vllm", "internvl3-2b-vllm", "idefics3-8b-vllm"} <= set(specs)
    # Qwen keeps the Qwen pixel limits by default; other families have none (their entries set processor_kwargs).
    assert specs["qwen3-vl-2b-vllm"].validate_params().max_pixels == 1280 * 28 * 28
    internvl = specs["internvl3-2b-vllm"].validate_params({"processor_kwargs": {"max_patches": 12}})
    assert engine_kwargs(internvl)["mm_processor_kwargs"] == {"max_patches": 12}
    assert specs["qwen2.5-vl-7b-vllm"].validate_params().model_path == "Qwen/Qwen2.5-VL-7B-Instruct"
    model = specs["qwen2.5-vl-3b-vllm"].create({"max_model_len": 4096})
    assert isinstance(model, VLLMModel) and not model.is_loaded
    assert (model.model_id, model.params.model_path, model.params.max_model_len) == (
        "qwen2.5-vl-3b-vllm",
        "Qwen/Qwen2.5-VL-3B-Instruct",
        4096,
    )
    assert all(spec.package == "model-vllm" and spec.modality == "vision" for spec in specs.values())


def test_importing_and_listing_models_imports_neither_vllm_nor_torch() -> None:
    code = (
        "import sys, model_vllm\n"
        "from model_vllm.registry import model_specs\n"
        "for spec in model_specs(): spec.create()\n"
        "print(sorted(name for name in ('vllm', 'torch', 'transformers') if name in sys.modules))\n"
    )
    src = str(Path(model_vllm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_check_without_vllm_says_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "vllm_installed", lambda: False)
    monkeypatch.setattr(adapter, "cuda_device_count", lambda: pytest.fail("probed CUDA without vllm"))
    availability = registry.check_vllm_model(VLLMParams(model_path="Qwen/Qwen2.5-VL-3B-Instruct"))
    assert (availability.ok, availability.reason) == (
        False,
        "vllm is not installed; install the vllm extra: uv sync --extra vllm",
    )


def test_check_lists_missing_weights_and_missing_gpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(registry, "vllm_installed", lambda: True)
    monkeypatch.setattr(adapter, "cuda_device_count", lambda: 0)
    availability = registry.check_vllm_model(VLLMParams(model_path=str(tmp_path)))
    assert not availability.ok
    assert availability.reason == (
        f"vLLM needs a CUDA GPU; none was found; model_path {str(tmp_path)!r} is not a checkpoint folder "
        "(no config.json)"
    )


def test_check_passes_with_weights_and_enough_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local_checkpoint(tmp_path)
    monkeypatch.setattr(registry, "vllm_installed", lambda: True)
    monkeypatch.setattr(adapter, "cuda_device_count", lambda: 2)
    assert registry.check_vllm_model(VLLMParams(model_path=str(tmp_path), tensor_parallel_size=2)).ok
    too_few = registry.check_vllm_model(VLLMParams(model_path=str(tmp_path), tensor_parallel_size=4))
    assert too_few.reason == "needs 4 CUDA GPUs (tensor_parallel_size), found 2"


def test_check_with_real_probes_on_this_machine() -> None:
    """Whatever this machine has, the answer is consistent with it (no GPU here: not available)."""
    spec = {spec.model_id: spec for spec in registry.model_specs()}["qwen2.5-vl-3b-vllm"]
    availability = spec.availability()
    if not registry.vllm_installed():
        assert availability.reason == "vllm is not installed; install the vllm extra: uv sync --extra vllm"
    elif adapter.cuda_device_count() == 0:
        assert availability.reason.startswith("vLLM needs a CUDA GPU; none was found")
    else:
        assert availability.ok == (weights_problem("Qwen/Qwen2.5-VL-3B-Instruct") is None)


# Checkpoints


def local_checkpoint(folder: Path) -> Path:
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def cache_hub_repo(cache: Path, repo_id: str, files: dict[str, str]) -> Path:
    """Lays out a Hugging Face hub cache entry (refs/main -> snapshots/<commit>/files)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        (snapshot / name).write_text(content)
    return snapshot


def test_a_local_folder_needs_config_and_safetensors(tmp_path: Path) -> None:
    assert weights_problem(str(tmp_path / "absent")) == (
        f"model_path {str(tmp_path / 'absent')!r} is not a checkpoint folder (no config.json)"
    )
    (tmp_path / "config.json").write_text("{}")
    assert weights_problem(str(tmp_path)) == f"model_path {str(tmp_path)!r} has no *.safetensors weights"
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"")
    assert weights_problem(str(tmp_path)) is None
    assert checkpoint_location(str(tmp_path)) == str(tmp_path)


def test_a_repo_id_is_found_in_the_hub_cache_only_when_every_shard_is_there(tmp_path: Path) -> None:
    index = json.dumps({"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}})
    snapshot = cache_hub_repo(
        tmp_path,
        "Org/Model",
        {"config.json": "{}", "model.safetensors.index.json": index, "model-1.safetensors": ""},
    )
    assert cached_snapshot("Org/Model", tmp_path) is None
    assert "not in the Hugging Face cache" in weights_problem("Org/Model", tmp_path)
    assert checkpoint_location("Org/Model", tmp_path) == "Org/Model"  # vLLM may still download it

    (snapshot / "model-2.safetensors").write_text("")
    assert cached_snapshot("Org/Model", tmp_path) == snapshot
    assert weights_problem("Org/Model", tmp_path) is None
    assert checkpoint_location("Org/Model", tmp_path) == str(snapshot)


def test_a_single_file_repo_in_the_hub_cache(tmp_path: Path) -> None:
    snapshot = cache_hub_repo(tmp_path, "Org/Small", {"config.json": "{}", "model.safetensors": ""})
    assert cached_snapshot("Org/Small", tmp_path) == snapshot
    assert cached_snapshot("Org/Absent", tmp_path) is None


def test_counting_gpus_imports_no_torch() -> None:
    """The availability check runs where the definitions load (a CPU code location): no torch there."""
    import subprocess
    import sys

    code = "import sys; from model_vllm.adapter import cuda_device_count as c; print(c(), 'torch' in sys.modules)"
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "False"]  # none visible, torch never imported
