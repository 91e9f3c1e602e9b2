"""The model contract: types, the model interface, the entry-point registry and timing helpers."""

from model_interface.model import ModelUnavailableError, PreparedBatch, VisionLanguageModel
from model_interface.registry import (
    Availability,
    ModelParamsError,
    ModelSpec,
    Resolution,
    UnknownModelError,
    create_model,
    discover,
    get_spec,
    package_version,
    shared_model,
)
from model_interface.timing import Stopwatch, peak_memory_bytes
from model_interface.types import ChatTurn, GenerationConfig, GenerationRequest, GenerationResult, ImageInput

__all__ = [
    "Availability",
    "ChatTurn",
    "GenerationConfig",
    "GenerationRequest",
    "GenerationResult",
    "ImageInput",
    "ModelParamsError",
    "ModelSpec",
    "ModelUnavailableError",
    "PreparedBatch",
    "Resolution",
    "Stopwatch",
    "UnknownModelError",
    "VisionLanguageModel",
    "create_model",
    "discover",
    "get_spec",
    "package_version",
    "peak_memory_bytes",
    "shared_model",
]
