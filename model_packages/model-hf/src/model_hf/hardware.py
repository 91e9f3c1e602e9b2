"""Device, dtype and attention-implementation choice.

The `resolve_*` functions are pure apart from the three probes below, so tests can monkeypatch the probes
to cover machines this one is not (a CUDA GPU, flash-attn installed).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys


def gpu_driver_present() -> bool:
    """Whether torch could find a GPU at all: on Linux a CUDA build of torch reaches its devices through the
    driver library libcuda.so.1 and a ROCm build through /dev/kfd; without either, `torch.cuda.is_available()`
    is False. Elsewhere this cannot tell, and says True."""
    if not sys.platform.startswith("linux") or os.path.exists("/dev/kfd"):
        return True
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def cuda_available() -> bool:
    """`torch.cuda.is_available()`; where no GPU driver can be found, False without importing torch (about
    1.2 s of a `vlmbench models` that needs nothing else from it)."""
    if not gpu_driver_present():
        return False
    import torch

    return torch.cuda.is_available()


def cuda_bf16_supported() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def flash_attn_importable() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def resolve_device(requested: str = "auto") -> str:
    """ "cuda" if asked or (auto and a GPU is present), else "cpu"."""
    if requested != "auto":
        return requested
    return "cuda" if cuda_available() else "cpu"


def resolve_dtype(requested: str = "auto", device: str = "cpu") -> str:
    """auto: bfloat16 on a CUDA device that supports it, float32 otherwise (CPU half precision is slow)."""
    if requested != "auto":
        return requested
    if device == "cuda" and cuda_bf16_supported():
        return "bfloat16"
    return "float32"


def resolve_attn_implementation(requested: str = "auto", device: str = "cpu") -> str:
    """auto: flash_attention_2 when flash-attn is importable and the model runs on CUDA, else sdpa."""
    if requested != "auto":
        return requested
    if device == "cuda" and flash_attn_importable() and cuda_available():
        return "flash_attention_2"
    return "sdpa"


def resolved_settings(device: str, dtype: str, attn_implementation: str) -> dict[str, str]:
    """What the three `auto` settings become here, with the library versions that run the model."""
    from importlib import metadata

    resolved_device = resolve_device(device)
    settings = {
        "device": resolved_device,
        "dtype": resolve_dtype(dtype, resolved_device),
        "attn_implementation": resolve_attn_implementation(attn_implementation, resolved_device),
    }
    for distribution in ("torch", "transformers"):
        try:
            settings[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            settings[distribution] = "not installed"
    return settings
