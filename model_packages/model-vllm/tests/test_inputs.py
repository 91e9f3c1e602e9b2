"""Requests -> vLLM inputs: chat messages (PIL image parts) and SamplingParams keyword arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_interface import ChatTurn, GenerationConfig, GenerationRequest
from model_interface.images import ImageDecodeError
from model_vllm.inputs import chat_messages, conversation_for, sampling_kwargs
from PIL import Image


def test_sampling_kwargs_map_every_config_field() -> None:
    config = GenerationConfig(max_new_tokens=32, temperature=0.7, top_p=0.9, seed=7, stop=("\n\n", "###"))
    assert sampling_kwargs(config) == {
        "max_tokens": 32,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["\n\n", "###"],
    }


def test_sampling_kwargs_default_to_greedy_without_stop_strings() -> None:
    assert sampling_kwargs(GenerationConfig()) == {
        "max_tokens": 64,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
        "stop": [],
    }


def test_messages_put_system_history_then_images_before_the_question() -> None:
    first, second = Image.new("RGB", (10, 10)), Image.new("RGB", (20, 10))
    request = GenerationRequest(
        prompt="What is the total?",
        system_prompt="Answer briefly.",
        history=[ChatTurn(role="user", content="Hi"), ChatTurn(role="assistant", content="Hello")],
    )
    messages = chat_messages(request, [first, second])
    assert messages == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {
            "role": "user",
            "content": [
                {"type": "image_pil", "image_pil": first},
                {"type": "image_pil", "image_pil": second},
                {"type": "text", "text": "What is the total?"},
            ],
        },
    ]
    assert messages[-1]["content"][0]["image_pil"] is first


def test_a_text_only_request_is_one_plain_user_message() -> None:
    assert chat_messages(GenerationRequest(prompt="Capital of France?"), []) == [
        {"role": "user", "content": "Capital of France?"}
    ]


def test_conversation_opens_image_files_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    Image.new("L", (30, 20), 255).save(path)
    messages = conversation_for(GenerationRequest(prompt="q", images=[path]), limit_images=1)
    image = messages[-1]["content"][0]["image_pil"]
    assert (image.mode, image.size) == ("RGB", (30, 20))


def test_conversation_raises_for_an_image_that_cannot_be_opened(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    with pytest.raises(ImageDecodeError, match="corrupt.png"):
        conversation_for(GenerationRequest(prompt="q", images=[corrupt]), limit_images=4)


def test_conversation_raises_for_more_images_than_the_engine_accepts() -> None:
    request = GenerationRequest(prompt="q", images=[Image.new("RGB", (5, 5))] * 3)
    with pytest.raises(ValueError, match="has 3 images but the engine accepts at most 2"):
        conversation_for(request, limit_images=2)


@pytest.mark.requires("vllm")
def test_sampling_kwargs_build_a_real_vllm_sampling_params() -> None:
    import vllm

    sampled = vllm.SamplingParams(
        **sampling_kwargs(
            GenerationConfig(max_new_tokens=9, temperature=0.5, top_p=0.8, seed=3, stop=("END",))
        )
    )
    assert (sampled.max_tokens, sampled.temperature, sampled.top_p, sampled.seed, sampled.stop) == (
        9,
        0.5,
        0.8,
        3,
        ["END"],
    )
    greedy = vllm.SamplingParams(**sampling_kwargs(GenerationConfig(top_p=0.5)))
    assert (greedy.temperature, greedy.top_p, greedy.max_tokens, greedy.stop) == (0.0, 1.0, 64, [])


@pytest.mark.requires("vllm")
def test_vllm_chat_parser_reads_our_parts_as_pil_image_and_text() -> None:
    # The function LLM.chat uses to classify each content part (vllm/renderers/chat_utils.py).
    from vllm.renderers.chat_utils import _parse_chat_message_content_mm_part

    image = Image.new("RGB", (10, 10))
    image_part, text_part = chat_messages(GenerationRequest(prompt="q?"), [image])[-1]["content"]
    assert _parse_chat_message_content_mm_part(image_part) == ("image_pil", image)
    assert _parse_chat_message_content_mm_part(text_part) == ("text", "q?")
