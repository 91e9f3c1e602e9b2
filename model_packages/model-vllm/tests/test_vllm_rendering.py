"""Our messages through vLLM's real prompt rendering, on CPU: `model_vllm.rendering.engine_input` with the
renderer the async engine builds (chat template, PIL image parsing, Qwen2.5-VL image processor, placeholder
expansion), from model-hf's tiny Qwen2.5-VL tokenizer/processor/config (no weights, no GPU). The result is
the same as `LLM.chat`'s own preprocessing (`LLM._preprocess_chat`), which the adapter used before.

Only the engine is missing: its renderer is built as `AsyncLLM.__init__` builds it, without the GPU engine.
Needs vllm (skipped without it) and loads it, so it is slow.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from model_interface import GenerationRequest
from model_vllm.inputs import chat_messages
from model_vllm.params import VLLMParams, engine_kwargs
from model_vllm.rendering import engine_input
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.requires("vllm")]


@pytest.fixture(scope="module")
def tiny_qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tokenizer, processor and config of model-hf's tiny Qwen2.5-VL (no weights): all that prompt
    rendering reads. model-hf is a workspace member; it builds the same checkpoint the demo runs."""
    from model_hf.tiny_qwen import build_tiny_qwen

    folder = tmp_path_factory.mktemp("tiny-qwen2.5-vl")
    build_tiny_qwen(folder, weights=False)
    return folder


def tiny_params(folder: Path, **overrides) -> VLLMParams:
    # The tiny config allows 4096 positions; vLLM refuses a longer max_model_len.
    return VLLMParams(model_path=str(folder), max_model_len=2048, min_pixels=3136, **overrides)


def engine_renderer(params: VLLMParams):
    """The renderer `AsyncLLM.__init__` builds (`renderer_from_config(vllm_config)`), minus the GPU engine."""
    from vllm.config import DeviceConfig, VllmConfig
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.renderers.registry import renderer_from_config

    model_config = AsyncEngineArgs(**engine_kwargs(params)).create_model_config()
    return renderer_from_config(VllmConfig(model_config=model_config, device_config=DeviceConfig("cpu")))


def rendered(params: VLLMParams, conversation: list) -> dict:
    return asyncio.run(engine_input(engine_renderer(params), conversation))


@pytest.mark.parametrize(
    ("max_pixels", "image_tokens"),
    # A 200x100 page: capped at 12544 pixels it is resized to 140x56 (10 tokens of 28x28 pixels); under
    # 50176 it keeps its size, rounded to 196x112 (28 tokens). So mm_processor_kwargs reach the processor.
    [(12544, 10), (50176, 28)],
)
def test_the_engine_renderer_renders_our_messages_with_the_model_template(
    tiny_qwen_folder: Path, max_pixels: int, image_tokens: int
) -> None:
    params = tiny_params(tiny_qwen_folder, max_pixels=max_pixels, limit_images=2)
    renderer = engine_renderer(params)
    request = GenerationRequest(prompt="What is the total?", system_prompt="Be brief.")

    conversation = chat_messages(request, [Image.new("RGB", (200, 100), "white")])
    prompt = asyncio.run(engine_input(renderer, conversation))

    assert prompt["type"] == "multimodal"
    assert len(prompt["mm_placeholders"]["image"]) == 1
    assert renderer.tokenizer.decode(prompt["prompt_token_ids"]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * image_tokens + "<|vision_end|>"
        "What is the total?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_too_many_images_are_refused_by_vllm_too(tiny_qwen_folder: Path) -> None:
    """Why the adapter checks limit_images first: vLLM would fail the whole batch's rendering."""
    params = tiny_params(tiny_qwen_folder, max_pixels=12544, limit_images=1)
    request = GenerationRequest(prompt="Compare.")
    from vllm.exceptions import VLLMValidationError

    with pytest.raises(VLLMValidationError, match="At most 1 image"):
        rendered(params, chat_messages(request, [Image.new("RGB", (64, 64))] * 2))
