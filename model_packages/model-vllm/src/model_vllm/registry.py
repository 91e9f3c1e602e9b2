"""The model ids this package registers (entry point `vlmbench.models` -> `model_specs`).

Cheap to import and to call: neither vllm nor torch is imported by importing this module or calling
`model_specs`. `check` finds vllm with `find_spec`, then imports torch to count CUDA devices and looks for the
weights on disk or in the Hugging Face cache.
"""

from __future__ import annotations

import importlib.util

from model_interface import Availability, ModelSpec, Resolution, package_version
from pydantic import BaseModel

from model_vllm.adapter import INSTALL_HINT, PACKAGE, VLLMModel, gpu_problem
from model_vllm.checkpoints import weights_problem
from model_vllm.params import VLLMParams

# Our id -> the Hugging Face repo loaded by default (override with the model_path param). Llama-3.2-Vision
# is not here (vLLM removed Mllama in 0.10.2), nor PaliGemma (no chat template for vLLM's chat renderer):
# run them through model-hf.
HUB_CHECKPOINTS = {
    "qwen2-vl-2b-vllm": "Qwen/Qwen2-VL-2B-Instruct",
    "qwen2-vl-7b-vllm": "Qwen/Qwen2-VL-7B-Instruct",
    "qwen2.5-vl-3b-vllm": "Qwen/Qwen2.5-VL-3B-Instruct",
    "qwen2.5-vl-7b-vllm": "Qwen/Qwen2.5-VL-7B-Instruct",
    "qwen2.5-vl-32b-vllm": "Qwen/Qwen2.5-VL-32B-Instruct",
    "qwen2.5-vl-72b-vllm": "Qwen/Qwen2.5-VL-72B-Instruct",
    "qwen3-vl-2b-vllm": "Qwen/Qwen3-VL-2B-Instruct",
    "qwen3-vl-4b-vllm": "Qwen/Qwen3-VL-4B-Instruct",
    "qwen3-vl-8b-vllm": "Qwen/Qwen3-VL-8B-Instruct",
    "internvl3-2b-vllm": "OpenGVLab/InternVL3-2B-hf",
    "internvl3-8b-vllm": "OpenGVLab/InternVL3-8B-hf",
    "smolvlm-2b-vllm": "HuggingFaceTB/SmolVLM-Instruct",
    "idefics3-8b-vllm": "HuggingFaceM4/Idefics3-8B-Llama3",
}
# Families without Qwen's pixel limits: those params are off (their entries set processor_kwargs instead).
NO_PIXEL_LIMITS = {"min_pixels": None, "max_pixels": None}


def model_specs() -> list[ModelSpec]:
    return [hub_spec(model_id, repo_id) for model_id, repo_id in HUB_CHECKPOINTS.items()]


def hub_spec(model_id: str, repo_id: str) -> ModelSpec:
    pixel_defaults = {} if model_id.startswith("qwen") else NO_PIXEL_LIMITS
    return ModelSpec(
        model_id=model_id,
        package=PACKAGE,
        description=f"{repo_id} on vLLM (CUDA GPU; continuous batching, preallocated KV cache).",
        params_model=VLLMParams,
        factory=create_vllm_model,
        check=check_vllm_model,
        resolve=resolve_vllm_model,
        default_params={"model_path": repo_id, **pixel_defaults},
        modality="vision",
    )


def create_vllm_model(model_id: str, params: BaseModel) -> VLLMModel:
    assert isinstance(params, VLLMParams)
    return VLLMModel(model_id, package_version(PACKAGE), params)


def check_vllm_model(params: BaseModel) -> Availability:
    assert isinstance(params, VLLMParams)
    if not vllm_installed():
        return Availability(False, f"vllm is not installed; {INSTALL_HINT}")
    problems = [gpu_problem(params.tensor_parallel_size), weights_problem(params.model_path)]
    problems = [problem for problem in problems if problem]
    return Availability(False, "; ".join(problems)) if problems else Availability(True)


def resolve_vllm_model(params: BaseModel) -> Resolution:
    """The engine version that serves the model (its dtype and limits are explicit params)."""
    from importlib import metadata

    try:
        version = metadata.version("vllm")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return Resolution(settings={"vllm": version})


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None
