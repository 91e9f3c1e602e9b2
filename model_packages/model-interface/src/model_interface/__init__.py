"""The model contract: types, the model interface, the entry-point registry, timing helpers and the image
loader."""

from model_interface.images import ImageDecodeError, load_image, load_pages, to_rgb
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
    "ImageDecodeError",
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
    "load_image",
    "load_pages",
    "package_version",
    "peak_memory_bytes",
    "shared_model",
    "to_rgb",
]
