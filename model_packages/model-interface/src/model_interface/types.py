"""Request, generation-config and result types shared by every model wrapper."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from model_interface.images import load_pages

ImageInput = Image.Image | str | Path


class ChatTurn(BaseModel):
    """One earlier message of a conversation."""

    model_config = ConfigDict(frozen=True)

    role: Literal["user", "assistant", "system"]
    content: str


class GenerationConfig(BaseModel):
    """Decoding settings. `config_hash` is stable across processes, so caches can key on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(default=64, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def config_hash(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class GenerationRequest(BaseModel):
    """One prompt over zero or more images (documents), with optional system prompt and history."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    prompt: str
    images: list[ImageInput] = Field(default_factory=list)
    system_prompt: str | None = None
    history: list[ChatTurn] = Field(default_factory=list)
    request_id: str | None = None
    # Hints a pipeline model may use (e.g. `field_name` for OCR label rules); VLMs ignore them.
    hints: dict[str, str] = Field(default_factory=dict)

    def load_images(self) -> list[Image.Image]:
        """The pages as 8-bit RGB images (`model_interface.images`: upright, alpha on white, a multi-page
        file as its pages); paths are opened here, so a bad file fails this request only."""
        return [page for image in self.images for page in load_pages(image)]


class GenerationResult(BaseModel):
    """What one request produced, with its cost. `error` is set (and `text` empty) when it failed."""

    text: str
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    ttft_s: float = 0.0
    tpot_s: float = 0.0
    peak_memory_bytes: int = 0
    model_id: str
    package_version: str
    request_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
