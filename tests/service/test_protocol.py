"""The OpenAI wire format and our requests: both directions, pure."""

from __future__ import annotations

import base64
import io
import re

import pytest
from model_interface import GenerationConfig, GenerationRequest
from model_openai.messages import chat_messages, completion_body, image_data_url
from PIL import Image

from vlm_pipelines.service.protocol import (
    ChatCompletionRequest,
    RequestError,
    decode_image,
    generation_inputs,
)


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


def _data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode()


def _encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def test_a_20000_pixel_square_png_is_refused_from_its_header() -> None:
    # 1-bit and blank: about 50 kB of PNG, never decoded (20000x20000 RGB would be 1.2 GB).
    huge = _encoded(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(
        RequestError, match=r"image 1 is too large \(.*400000000 pixels.*up to 89478485 pixels"
    ):
        decode_image(_data_url(huge), 1)


def test_the_pixel_limit_counts_every_page() -> None:
    pages = [Image.new("RGB", (10, 10)) for _ in range(3)]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    url = _data_url(buffer.getvalue(), "image/tiff")
    assert len(decode_image(url, 1, max_pixels=300)) == 3
    with pytest.raises(RequestError, match=r"image 2 is too large \(10x10, 300 pixels over all pages\)"):
        decode_image(url, 2, max_pixels=299)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (_data_url(_encoded(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")[:200]), "image 1 is not a readable image"),
        (_data_url(b"\\x89PNG\\r\\n\\x1a\\n not really"), "image 1 is not a readable image"),
        (_data_url(_encoded(Image.new("RGB", (8, 8)), "JPEG")),
         "image 1: the data URL says image/png but the bytes are JPEG data"),
        (_data_url(b"%PDF-1.7", "application/pdf"),
         "image 1: media type 'application/pdf' is not accepted; send one of image/png, image/jpeg"),
        (_data_url(b"x", ""), "image 1: media type '(none)' is not accepted"),
        ("data:image/png;base64,@@@@", "image 1 is not valid base64"),
    ],
)  # fmt: skip
def test_unreadable_or_mislabelled_images_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(RequestError, match=re.escape(message)):
        decode_image(url, 1)


def test_a_jpeg_declared_as_jpeg_is_read() -> None:
    (page,) = decode_image(
        _data_url(_encoded(Image.new("RGB", (8, 6), (0, 0, 255)), "JPEG"), "image/jpeg"), 1
    )
    assert page.size == (8, 6) and page.mode == "RGB"
