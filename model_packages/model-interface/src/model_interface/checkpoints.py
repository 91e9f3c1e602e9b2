"""What a checkpoint folder says about the packages its tokenizer needs (shared by model-hf and model-vllm)."""

from __future__ import annotations

from pathlib import Path

# `all`: model-hf imports transformers with every optional package it finds (model_hf.optional_imports).
TRANSFORMERS_OPTIONAL_ENV = "VLMBENCH_TRANSFORMERS_OPTIONAL"


def needs_mistral_common(folder: Path) -> bool:
    """Whether transformers would tokenize this checkpoint with mistral-common: it does where the package is
    installed and the checkpoint has a Tekken tokenizer file, or where its tokenizer config names the class."""
    if not folder.is_dir():
        return False
    if any(folder.glob("tekken*.json")):
        return True
    config = folder / "tokenizer_config.json"
    return config.is_file() and "MistralCommonBackend" in config.read_text(encoding="utf-8", errors="replace")
