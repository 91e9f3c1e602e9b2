"""Engine params: validation, and the exact `vllm.LLM` keyword arguments they become."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_vllm.params import ENGINE_SEED, VLLMParams, engine_kwargs
from pydantic import ValidationError


def test_engine_kwargs_carry_every_param() -> None:
    params = VLLMParams(
        model_path="/models/qwen",
        dtype="float16",
        max_model_len=4096,
        gpu_memory_utilization=0.5,
        tensor_parallel_size=2,
        min_pixels=3136,
        max_pixels=12544,
        limit_images=3,
    )
    assert engine_kwargs(params) == {
        "model": "/models/qwen",
        "dtype": "float16",
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.5,
        "tensor_parallel_size": 2,
        "limit_mm_per_prompt": {"image": 3, "video": 0},
        "mm_processor_kwargs": {"min_pixels": 3136, "max_pixels": 12544},
        "seed": ENGINE_SEED,
        "trust_remote_code": False,
        "disable_log_stats": True,
    }


def test_engine_kwargs_take_a_resolved_checkpoint_location() -> None:
    params = VLLMParams(model_path="Qwen/Qwen2.5-VL-3B-Instruct")
    assert engine_kwargs(params, model="/cache/snapshots/abc")["model"] == "/cache/snapshots/abc"
    assert engine_kwargs(params)["model"] == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_defaults_are_qwen_document_settings() -> None:
    params = VLLMParams(model_path="m")
    assert (params.dtype, params.max_model_len, params.tensor_parallel_size, params.limit_images) == (
        "bfloat16",
        8192,
        1,
        4,
    )
    # 256 to 1280 image tokens of 28x28 pixels, Qwen2.5-VL's recommended range.
    assert (params.min_pixels, params.max_pixels) == (200_704, 1_003_520)


def test_model_path_expands_home() -> None:
    assert VLLMParams(model_path="~/models/qwen").model_path == str(Path.home() / "models" / "qwen")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_pixels": 5000, "max_pixels": 4000}, "min_pixels \\(5000\\) is larger than max_pixels"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"limit_images": 0}, "limit_images"),
        ({"dtype": "int8"}, "dtype"),
        ({"max_tokens": 5}, "max_tokens"),
    ],
)
def test_bad_params_are_rejected_with_the_field_named(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VLLMParams(model_path="m", **overrides)


@pytest.mark.requires("vllm")
def test_engine_kwargs_are_real_vllm_engine_args() -> None:
    from vllm.engine.arg_utils import EngineArgs

    kwargs = engine_kwargs(
        VLLMParams(model_path="/models/qwen", limit_images=2, max_pixels=12544, min_pixels=3136)
    )
    engine_args = EngineArgs(**kwargs)  # TypeError on a key vllm 0.32 does not know
    assert engine_args.limit_mm_per_prompt == {"image": 2, "video": 0}
    assert engine_args.mm_processor_kwargs == {"min_pixels": 3136, "max_pixels": 12544}
    assert engine_args.disable_log_stats is True
    assert engine_args.trust_remote_code is False
