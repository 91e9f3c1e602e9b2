"""The OpenAI chat-completions wire format, and how a request becomes our `GenerationRequest`.

Supported: `messages` with text and base64 `image_url` parts, `max_tokens` / `max_completion_tokens`,
`temperature`, `top_p`, `seed`, `stop`, `stream` (+ `stream_options`), `n` = 1. Other OpenAI fields are
accepted and ignored. Unset decoding fields take `GenerationConfig`'s defaults, which are greedy (OpenAI's
own default temperature is 1): an evaluation server should be reproducible unless asked otherwise.

Images (`decode_image`): data URLs only (the server never fetches). The declared media type must be one of
`IMAGE_TYPES` and must match the bytes: a JPEG sent as image/png, or a PDF, is refused with a 400 naming both,
rather than guessed at, since a client that mislabels its bytes has a bug worth seeing. An image over
`MAX_IMAGE_PIXELS` (all pages together) is refused from its header, before any decoding.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
import uuid
from typing import Any, Literal

from model_interface import (
    ChatTurn,
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    ImageDecodeError,
    load_pages,
)
from model_interface.images import page_count
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The media types an image part may declare, and the Pillow formats its bytes may then be.
IMAGE_TYPES: dict[str, frozenset[str]] = {
    "image/png": frozenset({"PNG"}),
    "image/jpeg": frozenset({"JPEG", "MPO"}),  # MPO: a phone camera's JPEG with a preview image
    "image/jpg": frozenset({"JPEG", "MPO"}),
    "image/webp": frozenset({"WEBP"}),
    "image/gif": frozenset({"GIF"}),
    "image/tiff": frozenset({"TIFF"}),
    "image/bmp": frozenset({"BMP"}),
}
# Pillow's own warning threshold (about 89.5 million pixels, 9459x9459); it refuses twice that outright.
MAX_IMAGE_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)


class RequestError(ValueError):
    """The request cannot be answered as sent (HTTP 400)."""


class ImageURL(BaseModel):
    url: str
    detail: str | None = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageURL | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None


def decode_image(url: str, number: int, max_pixels: int = MAX_IMAGE_PIXELS) -> list[Image.Image]:
    """A `data:image/...;base64,` URL as its pages, 8-bit RGB (`model_interface.images`: upright, alpha on
    white, a multi-page TIFF as several pages). Refused, each with a one-line reason: remote URLs (the server
    never fetches), media types other than `IMAGE_TYPES`, bytes of another format than the media type says,
    images over `max_pixels` (all pages together; checked from the header, before anything is decoded),
    and files that do not decode."""
    if not url.startswith("data:"):
        raise RequestError(
            f"image {number}: only base64 data URLs are accepted (data:image/png;base64,...); "
            "the server does not fetch remote images"
        )
    header, _, payload = url.partition(",")
    media_type, *options = header.removeprefix("data:").split(";")
    if "base64" not in options:
        raise RequestError(f"image {number}: the data URL is not base64-encoded")
    media_type = media_type.strip().lower()
    if media_type not in IMAGE_TYPES:
        raise RequestError(
            f"image {number}: media type {media_type or '(none)'!r} is not accepted; "
            f"send one of {', '.join(IMAGE_TYPES)}"
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise RequestError(f"image {number} is not valid base64 ({error})") from None
    try:
        opened = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as error:
        raise RequestError(
            f"image {number} is too large ({error}); the service accepts up to {max_pixels} pixels"
        ) from None
    except Exception as error:  # Pillow raises several types for bytes it cannot identify
        raise RequestError(
            f"image {number} is not a readable image ({type(error).__name__}: {error})"
        ) from None
    with opened:
        if opened.format not in IMAGE_TYPES[media_type]:
            found = f"{opened.format} data" if opened.format else "of a format Pillow does not name"
            raise RequestError(f"image {number}: the data URL says {media_type} but the bytes are {found}")
        pixels = _pixels(opened)
        if pixels > max_pixels:
            width, height = opened.size
            raise RequestError(
                f"image {number} is too large ({width}x{height}, {pixels} pixels over all pages); "
                f"the service accepts up to {max_pixels} pixels"
            )
        try:
            return load_pages(opened)
        except ImageDecodeError as error:
            cause = error.__cause__ or error
            raise RequestError(
                f"image {number} is not a readable image ({type(cause).__name__}: {cause})"
            ) from None


def _pixels(image: Image.Image) -> int:
    """Pixels over all pages, from the headers: a TIFF's pages each have their own size."""
    frames = page_count(image)
    if frames == 1 or image.format != "TIFF":
        return image.width * image.height * frames
    total = 0
    for index in range(frames):
        image.seek(index)
        total += image.width * image.height
    image.seek(0)
    return total


def _text_of(message: ChatMessage, where: str) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    if any(part.type == "image_url" for part in message.content):
        raise RequestError(f"{where}: images are accepted in the last user message only")
    return "".join(part.text or "" for part in message.content)


def generation_inputs(
    body: ChatCompletionRequest, max_image_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[GenerationRequest, GenerationConfig]:
    """The last message (a user turn: its text and images) is the prompt; earlier system messages are the
    system prompt and the other turns the history."""
    if body.n != 1:
        raise RequestError(f"n={body.n} is not supported; send n=1 (one completion per request)")
    *earlier, last = body.messages
    if last.role != "user":
        raise RequestError(f"the last message must be the user's, not the {last.role}'s")
    system = [_text_of(m, "a system message") for m in earlier if m.role in ("system", "developer")]
    history = [
        ChatTurn(role=m.role, content=_text_of(m, f"message {i + 1}"))  # type: ignore[arg-type]
        for i, m in enumerate(earlier)
        if m.role in ("user", "assistant")
    ]
    images: list[Image.Image] = []
    if isinstance(last.content, list):
        prompt = "".join(part.text or "" for part in last.content if part.type == "text")
        parts = [part for part in last.content if part.type == "image_url"]
        for number, part in enumerate(parts, start=1):
            if part.image_url is None:
                raise RequestError(f"image {number}: an image_url part needs an image_url")
            images.extend(decode_image(part.image_url.url, number, max_image_pixels))
    else:
        prompt = last.content or ""
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or ())
    settings: dict[str, Any] = {
        "max_new_tokens": body.max_completion_tokens or body.max_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "seed": body.seed,
        "stop": tuple(stop),
    }
    try:
        config = GenerationConfig(**{key: value for key, value in settings.items() if value is not None})
    except ValidationError as error:
        raise RequestError("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())) from None
    request = GenerationRequest(
        prompt=prompt,
        images=images,
        system_prompt="\n\n".join(system) or None,
        history=history,
        request_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
    )
    return request, config


def finish_reason(output_tokens: int, config: GenerationConfig) -> str:
    return "length" if output_tokens >= config.max_new_tokens else "stop"


def completion_response(name: str, result: GenerationResult, config: GenerationConfig) -> dict[str, Any]:
    return {
        "id": result.request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": finish_reason(result.output_tokens, config),
            }
        ],
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.output_tokens,
            "total_tokens": result.prompt_tokens + result.output_tokens,
        },
    }


def chunk(request_id: str, name: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def error_body(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
