"""What vLLM is given for a request: chat messages (rendered by `model_vllm.rendering`), and
`SamplingParams` keyword arguments.

Pure: nothing here imports vllm. Images go in as PIL images (`{"type": "image_pil", ...}` parts, which
vllm's chat parser accepts), and vLLM applies the model's own chat template, which puts each image's
placeholder tokens where the template wants them.
"""

from __future__ import annotations

from typing import Any

from model_interface import GenerationConfig, GenerationRequest
from model_interface.messages import openai_style_messages
from PIL import Image

Message = dict[str, Any]


def sampling_kwargs(config: GenerationConfig) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams`. Temperature 0 is greedy in vLLM (top_p is then ignored)."""
    return {
        "max_tokens": config.max_new_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "seed": config.seed,
        "stop": list(config.stop),
    }


def chat_messages(request: GenerationRequest, images: list[Image.Image]) -> list[Message]:
    """System prompt, history, then the user turn: its images first, then its text (as Qwen-VL expects)."""
    return openai_style_messages(request, [{"type": "image_pil", "image_pil": image} for image in images])


def conversation_for(request: GenerationRequest, limit_images: int) -> list[Message]:
    """Opens the request's images and builds its messages; raises if an image cannot be opened or there
    are more images than the engine accepts, so the caller can fail this request alone."""
    if len(request.images) > limit_images:
        raise ValueError(
            f"the request has {len(request.images)} images but the engine accepts at most {limit_images} "
            "(raise the model param limit_images)"
        )
    return chat_messages(request, request.load_images())
