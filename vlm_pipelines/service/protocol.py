"""The OpenAI chat-completions wire format, and how a request becomes our `GenerationRequest`.

Supported: `messages` with text and base64 `image_url` parts (data URLs), `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `seed`, `stop`, `stream` (+ `stream_options`), `n` = 1.
Other OpenAI fields are accepted and ignored. Unset decoding fields take `GenerationConfig`'s defaults,
which are greedy (OpenAI's own default temperature is 1): an evaluation server should be reproducible
unless asked otherwise.
"""

from __future__ import annotations

import base64
import binascii
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
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError


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


def decode_image(url: str, number: int) -> list[Image.Image]:
    """A `data:image/...;base64,` URL as its pages, 8-bit RGB (`model_interface.images`: upright, alpha on
    white, a multi-page TIFF as several pages); remote URLs are refused (the server never fetches)."""
    if not url.startswith("data:"):
        raise RequestError(
            f"image {number}: only base64 data URLs are accepted (data:image/png;base64,...); "
            "the server does not fetch remote images"
        )
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise RequestError(f"image {number}: the data URL is not base64-encoded")
    try:
        return load_pages(base64.b64decode(payload, validate=True))
    except ImageDecodeError as error:
        cause = error.__cause__ or error
        raise RequestError(
            f"image {number} is not a readable image ({type(cause).__name__}: {cause})"
        ) from None
    except (binascii.Error, ValueError) as error:
        raise RequestError(
            f"image {number} is not a readable image ({type(error).__name__}: {error})"
        ) from None


def _text_of(message: ChatMessage, where: str) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    if any(part.type == "image_url" for part in message.content):
        raise RequestError(f"{where}: images are accepted in the last user message only")
    return "".join(part.text or "" for part in message.content)


def generation_inputs(body: ChatCompletionRequest) -> tuple[GenerationRequest, GenerationConfig]:
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
            images.extend(decode_image(part.image_url.url, number))
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
