"""The OpenAI wire format and our requests: both directions, pure."""

from __future__ import annotations

import base64

import pytest
from model_interface import GenerationConfig, GenerationRequest
from model_openai.messages import chat_messages, completion_body, image_data_url
from PIL import Image

from vlm_pipelines.service.protocol import ChatCompletionRequest, RequestError, generation_inputs


def test_the_client_request_becomes_the_same_generation_request_on_the_server() -> None:
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    original = GenerationRequest(
        prompt="What is the total?",
        images=[image],
        system_prompt="Answer briefly.",
        history=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    )
    config = GenerationConfig(max_new_tokens=12, temperature=0.0, seed=7, stop=("\n",))
    body = completion_body("m", chat_messages(original, original.load_images()), config, stream=False)
    request, received = generation_inputs(ChatCompletionRequest.model_validate(body))
    assert received == config
    assert (request.prompt, request.system_prompt) == (original.prompt, original.system_prompt)
    assert [(turn.role, turn.content) for turn in request.history] == [("user", "Hi"), ("assistant", "Hello")]
    (decoded,) = request.images
    assert decoded.size == (40, 30) and decoded.getpixel((5, 5)) == (200, 10, 10)  # PNG: lossless


def test_unset_decoding_fields_are_greedy_and_max_completion_tokens_wins() -> None:
    body = ChatCompletionRequest(
        model="m", messages=[{"role": "user", "content": "q"}], max_tokens=5, max_completion_tokens=9
    )
    _, config = generation_inputs(body)
    assert config.greedy and config.max_new_tokens == 9


@pytest.mark.parametrize(
    ("messages", "extra", "message"),
    [
        ([{"role": "assistant", "content": "x"}], {}, "the last message must be the user's"),
        ([{"role": "user", "content": "q"}], {"n": 2}, "n=2 is not supported"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
            {},
            "only base64 data URLs are accepted",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {
                "url": "data:image/png;base64," + base64.b64encode(b"not a png").decode()}}]}],
            {},
            "image 1 is not a readable image",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_data_url(
                Image.new("RGB", (2, 2)))}}]}, {"role": "assistant", "content": "a"},
             {"role": "user", "content": "q"}],
            {},
            "images are accepted in the last user message only",
        ),
    ],
)  # fmt: skip
def test_requests_that_cannot_be_answered_say_why(messages, extra, message) -> None:
    with pytest.raises(RequestError, match=message):
        generation_inputs(ChatCompletionRequest(model="m", messages=messages, **extra))
