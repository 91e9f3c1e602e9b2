"""Our requests as OpenAI chat-completions bodies. Pure: no network."""

from __future__ import annotations

import base64
import io
from typing import Any

from model_interface import GenerationConfig, GenerationRequest
from model_interface.messages import openai_style_messages
from PIL import Image


def image_data_url(image: Image.Image) -> str:
    """A PNG data URL (lossless, so the server sees the pixels the in-process model would)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(request: GenerationRequest, images: list[Image.Image]) -> list[dict[str, Any]]:
    """System prompt, history, then the user turn: its images first (base64 `image_url` parts), then its text."""
    return openai_style_messages(
        request, [{"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in images]
    )


def completion_body(
    served_model: str, messages: list[dict[str, Any]], config: GenerationConfig, *, stream: bool
) -> dict[str, Any]:
    """Every decoding setting is sent explicitly: servers' defaults differ (OpenAI samples at temperature 1)."""
    body: dict[str, Any] = {
        "model": served_model,
        "messages": messages,
        "max_tokens": config.max_new_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "seed": config.seed,
        "n": 1,
        "stream": stream,
    }
    if config.stop:
        body["stop"] = list(config.stop)
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body
