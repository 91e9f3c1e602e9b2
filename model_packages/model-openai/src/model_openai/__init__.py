"""Client model for OpenAI-compatible chat endpoints. `OpenAIClientModel` imports httpx: import it from
`model_openai.adapter` where it is needed."""

from model_openai.params import OpenAIClientParams
from model_openai.registry import MODEL_ID, model_specs

__all__ = ["MODEL_ID", "OpenAIClientParams", "model_specs"]
