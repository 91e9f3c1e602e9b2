"""A conversation as the input vLLM's async engine generates from: what `LLM.chat` does to a conversation
(`vllm/entrypoints/common/offline.py`, `_preprocess_chat`), through the engine's own renderer: the model's
chat template with a generation prompt, the special tokens left to the template, image preprocessing
and placeholder expansion. Imports vllm; tested against the real renderer in test_vllm_rendering.py.
"""

from __future__ import annotations

from typing import Any

from model_vllm.inputs import Message


def chat_params() -> Any:
    """`LLM.chat`'s defaults: the model's template, a generation prompt, no tools."""
    from vllm.renderers import ChatParams

    return ChatParams(
        chat_template=None,
        chat_template_content_format="auto",
        chat_template_kwargs={
            "add_generation_prompt": True,
            "continue_final_message": False,
            "tools": None,
            "tokenize": False,  # a Mistral tokenizer would need True; no model here uses one
        },
    )


async def engine_input(renderer: Any, conversation: list[Message]) -> Any:
    """The rendered, tokenized and preprocessed prompt of one conversation (vLLM's `EngineInput`)."""
    # The chat template writes BOS/EOS itself; as in `LLM.chat`, the tokenizer adds none.
    tokenize = renderer.default_chat_tok_params.with_kwargs(add_special_tokens=False)
    _, (rendered,) = await renderer.render_chat_async([conversation], chat_params(), tokenize)
    return rendered
