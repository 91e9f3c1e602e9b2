"""Client model for OpenAI-compatible chat endpoints."""

from model_openai.adapter import OpenAIClientModel
from model_openai.params import OpenAIClientParams
from model_openai.registry import MODEL_ID, model_specs

__all__ = ["MODEL_ID", "OpenAIClientModel", "OpenAIClientParams", "model_specs"]
