"""OpenAI-style chat messages of a request, shared by the backends that take them (vLLM's `LLM.chat`, an
OpenAI-compatible endpoint); each gives its own image parts."""

from __future__ import annotations

from typing import Any

from model_interface.types import GenerationRequest


def openai_style_messages(
    request: GenerationRequest, image_parts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """System prompt, history, then the user turn: its images first, then its text (as Qwen-VL expects);
    a turn without images is a plain string."""
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.extend({"role": turn.role, "content": turn.content} for turn in request.history)
    if image_parts:
        messages.append({"role": "user", "content": [*image_parts, {"type": "text", "text": request.prompt}]})
    else:
        messages.append({"role": "user", "content": request.prompt})
    return messages
