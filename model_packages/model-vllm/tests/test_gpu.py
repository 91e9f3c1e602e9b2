"""End to end on a real GPU: a real Qwen2.5-VL checkpoint served by vLLM reads a number off an image.

Runs only with a CUDA device, vllm installed, and `VLMBENCH_VLLM_MODEL_PATH` set to a Qwen2.5-VL
checkpoint (a local folder or a cached Hugging Face repo id), e.g.:

    VLMBENCH_VLLM_MODEL_PATH=Qwen/Qwen2.5-VL-3B-Instruct uv run pytest -m gpu model_packages/model-vllm
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from model_interface import GenerationConfig, GenerationRequest
from model_vllm.params import VLLMParams
from model_vllm.registry import create_vllm_model
from PIL import Image, ImageDraw, ImageFont

MODEL_PATH_ENV = "VLMBENCH_VLLM_MODEL_PATH"


@pytest.fixture
def gpu_model_path(skip_or_fail) -> str:
    """The checkpoint the GPU tests run: a skip without one (a failure under CI, see the root conftest)."""
    model_path = os.environ.get(MODEL_PATH_ENV)
    if not model_path:
        skip_or_fail(
            f"a Qwen2.5-VL checkpoint is missing ({MODEL_PATH_ENV} is not set); install: "
            f"{MODEL_PATH_ENV}=Qwen/Qwen2.5-VL-3B-Instruct (a cached repo id) or a local checkpoint folder"
        )
    return model_path


def invoice_image() -> Image.Image:
    image = Image.new("RGB", (640, 240), "white")
    ImageDraw.Draw(image).text(
        (40, 80), "TOTAL DUE: 4721 EUR", fill="black", font=ImageFont.load_default(size=48)
    )
    return image


@pytest.mark.gpu
@pytest.mark.requires("vllm")
def test_vllm_answers_a_question_about_an_image(tmp_path: Path, gpu_model_path: str) -> None:
    model_path = gpu_model_path
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    model = create_vllm_model(
        "qwen2.5-vl-vllm-gpu-test",
        VLLMParams(model_path=model_path, max_model_len=4096, gpu_memory_utilization=0.6, limit_images=1),
    )
    question = "What is the total due? Answer with the number only."
    results = model.generate(
        [
            GenerationRequest(prompt=question, images=[invoice_image()], request_id="invoice"),
            GenerationRequest(prompt=question, images=[corrupt], request_id="corrupt"),
            GenerationRequest(prompt="What is the capital of France? One word.", request_id="text"),
        ],
        GenerationConfig(max_new_tokens=16),
    )

    invoice, broken, text_only = results
    assert [r.request_id for r in results] == ["invoice", "corrupt", "text"]
    assert invoice.ok, invoice.error
    assert "4721" in invoice.text
    assert "paris" in text_only.text.lower()
    assert not broken.ok and "UnidentifiedImageError" in broken.error
    # The image's placeholder tokens count as prompt tokens.
    assert invoice.prompt_tokens > text_only.prompt_tokens > 0
    assert invoice.output_tokens > 0
    # Per-request metrics were on (disable_log_stats=False): TTFT precedes the end of decoding.
    assert 0 < invoice.ttft_s <= invoice.latency_s
    assert invoice.peak_memory_bytes > 1 << 30  # vLLM's preallocated pool, not this process's allocations


@pytest.mark.gpu
@pytest.mark.requires("vllm")
def test_the_async_engine_aborts_a_stream_left_early_and_answers_the_next(gpu_model_path: str) -> None:
    """The real engine: a consumer that stops reading frees its request; the engine goes on; close() ends it."""
    import time

    model = create_vllm_model(
        "qwen2.5-vl-vllm-gpu-test",
        VLLMParams(model_path=gpu_model_path, max_model_len=4096, gpu_memory_utilization=0.6, limit_images=1),
    )
    stream = model.stream(
        GenerationRequest(prompt="Count from 1 to 3000, separated by commas."),
        GenerationConfig(max_new_tokens=3000),
    )
    assert next(stream)
    stream.close()
    deadline = time.monotonic() + 60  # bounds a hang only
    while model._engine.get_num_unfinished_requests():
        assert time.monotonic() < deadline, "the abandoned request is still in the engine"
        time.sleep(0.1)
    (answer,) = model.generate(
        [GenerationRequest(prompt="What is the capital of France? One word.")],
        GenerationConfig(max_new_tokens=8),
    )
    assert "paris" in answer.text.lower()
    model.close()
    assert not model.is_loaded
