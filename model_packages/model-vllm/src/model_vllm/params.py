"""Engine settings for a vLLM model, and the `vllm.AsyncEngineArgs(...)` keyword arguments they become.

Pure: nothing here imports vllm, so the mapping is unit-tested without it (and checked against vllm's
real `EngineArgs` where vllm is installed).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A Qwen2.5-VL image token covers 28x28 pixels (14-pixel patches merged 2x2).
QWEN_TOKEN_PIXELS = 28 * 28
# The engine's own seed; each request's sampling seed comes from GenerationConfig.seed.
ENGINE_SEED = 0


class VLLMParams(BaseModel):
    """Per-model settings, from the model registry YAML or `--model-param key=value`."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_path: str = Field(min_length=1, description="Local checkpoint folder or Hugging Face repo id.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "bfloat16"
    max_model_len: int = Field(default=8192, ge=256, description="Prompt plus answer, in tokens.")
    gpu_memory_utilization: float = Field(
        default=0.85,
        gt=0.0,
        le=1.0,
        description="Share of GPU memory vLLM preallocates (weights + KV cache).",
    )
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs the model is sharded over.")
    min_pixels: int | None = Field(
        default=256 * QWEN_TOKEN_PIXELS,
        gt=0,
        description="Qwen-VL image resize floor, in pixels (null for other families).",
    )
    max_pixels: int | None = Field(
        default=1280 * QWEN_TOKEN_PIXELS,
        gt=0,
        description="Qwen-VL image resize cap, in pixels (null for other families).",
    )
    processor_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Other keyword arguments of the model's HF processor (Idefics3's size, InternVL's "
        "max_patches).",
    )
    limit_images: int = Field(default=4, ge=1, description="Most images one request may carry.")

    @field_validator("model_path")
    @classmethod
    def _expand_home(cls, model_path: str) -> str:
        return os.path.expanduser(model_path)

    @model_validator(mode="after")
    def _pixel_range_is_ordered(self) -> VLLMParams:
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) is larger than max_pixels ({self.max_pixels})")
        return self


def engine_kwargs(params: VLLMParams, model: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `vllm.AsyncEngineArgs` (every key is a vllm 0.32 `EngineArgs` field). `model` is where
    the checkpoint is, when that differs from `params.model_path` (a cached Hub snapshot folder)."""
    return {
        "model": model or params.model_path,
        "dtype": params.dtype,
        "max_model_len": params.max_model_len,
        "gpu_memory_utilization": params.gpu_memory_utilization,
        "tensor_parallel_size": params.tensor_parallel_size,
        # Video is off: vLLM would otherwise reserve memory for 999 videos when profiling.
        "limit_mm_per_prompt": {"image": params.limit_images, "video": 0},
        "mm_processor_kwargs": {**pixel_limits(params), **params.processor_kwargs},
        "seed": ENGINE_SEED,
        "trust_remote_code": False,
        # The adapter times each request itself; the engine's stat loggers are not read.
        "disable_log_stats": True,
    }


def pixel_limits(params: VLLMParams) -> dict[str, int]:
    limits = {"min_pixels": params.min_pixels, "max_pixels": params.max_pixels}
    return {name: value for name, value in limits.items() if value is not None}
