"""Our messages through vLLM's real prompt rendering, on CPU: `LLM.chat`'s own preprocessing
(`LLM._preprocess_chat`: chat template, PIL image parsing, Qwen2.5-VL image processor, placeholder
expansion) with model-hf's tiny Qwen2.5-VL tokenizer/processor/config (no weights, no GPU).

Only the engine is missing: the `LLM` object is made without `__init__`, which would start one on a GPU.
Needs vllm (skipped without it) and loads it, so it is slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from model_interface import GenerationRequest
from model_vllm.inputs import chat_messages
from model_vllm.params import VLLMParams, engine_kwargs
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


def offline_llm_without_engine(params: VLLMParams):
    """A real `vllm.LLM` with the renderer `LLM.__init__` would build, minus the GPU engine."""
    from vllm import LLM
    from vllm.config import DeviceConfig, VllmConfig
    from vllm.engine.arg_utils import EngineArgs
    from vllm.renderers.registry import renderer_from_config

    model_config = EngineArgs(**engine_kwargs(params)).create_model_config()
    llm = object.__new__(LLM)
    llm.model_config = model_config
    llm.renderer = renderer_from_config(
        VllmConfig(model_config=model_config, device_config=DeviceConfig("cpu"))
    )
    llm.chat_template = None  # LLM(chat_template=None): the model's own template
    return llm


@pytest.mark.parametrize(
    ("max_pixels", "image_tokens"),
    # A 200x100 page: capped at 12544 pixels it is resized to 140x56 (10 tokens of 28x28 pixels); under
    # 50176 it keeps its size, rounded to 196x112 (28 tokens). So mm_processor_kwargs reach the processor.
    [(12544, 10), (50176, 28)],
)
def test_llm_chat_preprocessing_renders_our_messages_with_the_model_template(
    tiny_qwen_folder: Path, max_pixels: int, image_tokens: int
) -> None:
    params = tiny_params(tiny_qwen_folder, max_pixels=max_pixels, limit_images=2)
    llm = offline_llm_without_engine(params)
    request = GenerationRequest(prompt="What is the total?", system_prompt="Be brief.")

    (prompt,) = llm._preprocess_chat([chat_messages(request, [Image.new("RGB", (200, 100), "white")])])

    assert prompt["type"] == "multimodal"
    assert len(prompt["mm_placeholders"]["image"]) == 1
    assert llm.renderer.tokenizer.decode(prompt["prompt_token_ids"]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * image_tokens + "<|vision_end|>"
        "What is the total?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_too_many_images_are_refused_by_vllm_too(tiny_qwen_folder: Path) -> None:
    """Why the adapter checks limit_images first: vLLM would fail the whole batch's rendering."""
    llm = offline_llm_without_engine(tiny_params(tiny_qwen_folder, max_pixels=12544, limit_images=1))
    request = GenerationRequest(prompt="Compare.")
    from vllm.exceptions import VLLMValidationError

    with pytest.raises(VLLMValidationError, match="At most 1 image"):
        llm._preprocess_chat([chat_messages(request, [Image.new("RGB", (64, 64))] * 2)])
