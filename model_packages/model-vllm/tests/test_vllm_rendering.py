"""Our messages through vLLM's real prompt rendering, on CPU: `LLM.chat`'s own preprocessing
(`LLM._preprocess_chat`: chat template, PIL image parsing, Qwen2.5-VL image processor, placeholder
expansion) with a tiny Qwen2.5-VL tokenizer/processor/config written here (no weights, no GPU).

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

pytestmark = pytest.mark.slow

# Qwen2-VL / Qwen2.5-VL's chat template (add_vision_id off by default).
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
pytestmark = pytest.mark.requires("vllm")

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


@pytest.fixture(scope="module")
def tiny_qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tokenizer, processor and config of a tiny Qwen2.5-VL: all that prompt rendering reads."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    folder = tmp_path_factory.mktemp("tiny-qwen2.5-vl")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(
        ["What is the total? Be brief. You are a helpful assistant."] * 10, trainer=trainer
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_bos_token": "<|vision_start|>",
            "vision_eos_token": "<|vision_end|>",
        },
        chat_template=QWEN_VL_CHAT_TEMPLATE,
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_VL_CHAT_TEMPLATE,
    )
    token_id = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    config.architectures = ["Qwen2_5_VLForConditionalGeneration"]
    config.save_pretrained(folder)
    processor.save_pretrained(folder)
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
