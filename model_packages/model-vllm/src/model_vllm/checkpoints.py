"""Where a checkpoint's weights are: a local folder, or a Hugging Face repo id found in the local HF cache.

No network and no vllm: `weights_problem` answers the registry's availability check, and
`checkpoint_location` hands vLLM a cached snapshot folder instead of a repo id, so an offline machine
never waits on the Hub.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from model_interface.checkpoints import TRANSFORMERS_OPTIONAL_ENV, needs_mistral_common

CONFIG_FILE = "config.json"
SINGLE_WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"


def is_local_path(model_path: str) -> bool:
    """A folder path rather than a repo id ("Qwen/Qwen2.5-VL-3B-Instruct" is a repo id unless it exists)."""
    return Path(model_path).exists() or Path(model_path).is_absolute() or model_path.startswith(".")


def weights_problem(model_path: str, cache_dir: Path | None = None) -> str | None:
    """Why the checkpoint at `model_path` cannot load offline, or None when it can."""
    if is_local_path(model_path):
        folder = Path(model_path)
        if not (folder / CONFIG_FILE).is_file():
            return f"model_path {model_path!r} is not a checkpoint folder (no {CONFIG_FILE})"
        if not any(folder.glob("*.safetensors")):
            return f"model_path {model_path!r} has no *.safetensors weights"
        return None
    if cached_snapshot(model_path, cache_dir) is None:
        return (
            f"the weights of {model_path!r} are not in the Hugging Face cache; download them "
            f"(`hf download {model_path}`) or set the model_path param to a local checkpoint folder"
        )
    return None


def checkpoint_location(model_path: str, cache_dir: Path | None = None) -> str:
    """What to pass to `vllm.LLM(model=...)`: the folder itself, a repo's complete cached snapshot, or
    (not cached) the repo id, which vLLM then downloads if it can."""
    if is_local_path(model_path):
        return model_path
    snapshot = cached_snapshot(model_path, cache_dir)
    return str(snapshot) if snapshot else model_path


def cached_snapshot(repo_id: str, cache_dir: Path | None = None) -> Path | None:
    """The cached snapshot folder of `repo_id` when its config and every weights file are cached."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None

    def cached(filename: str) -> Path | None:
        try:
            found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
        except Exception:  # not a valid repo id
            return None
        # A path when cached; None or a "known missing" sentinel otherwise.
        return Path(found) if isinstance(found, str) else None

    config = cached(CONFIG_FILE)
    if config is None:
        return None
    index = cached(WEIGHTS_INDEX_FILE)
    if index is not None:
        shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        complete = bool(shards) and all(cached(shard) is not None for shard in shards)
    else:
        complete = cached(SINGLE_WEIGHTS_FILE) is not None
    return config.parent if complete else None


def hidden_mistral_common_problem(location: str) -> str | None:
    """Why a checkpoint with a mistral-common tokenizer (`needs_mistral_common`) cannot load in this process, or None.

    model-hf imports transformers with mistral-common hidden when its checkpoint does not need it (see
    `model_hf.optional_imports`), and transformers keeps that answer for the process, so a vLLM model loaded
    after it could not build its Mistral tokenizer."""
    if not needs_mistral_common(Path(location)):
        return None
    if importlib.util.find_spec("mistral_common") is None:
        return None  # not installed: vLLM says so itself
    from transformers.utils import import_utils

    if import_utils.is_mistral_common_available():
        return None
    return (
        "its tokenizer needs mistral-common, which this process hid from transformers for an earlier "
        f"Hugging Face model; set {TRANSFORMERS_OPTIONAL_ENV}=all, or evaluate this model on its own"
    )
