"""GGUF checkpoints are converted once into a plain checkpoint, keyed by content and library versions."""

from __future__ import annotations

import os
from pathlib import Path

from model_hf.gguf_cache import conversion_key, converted_folder, ensure_converted
from model_hf.registry import SMOLLM2_GGUF, smollm2_folder
from model_interface import shared_model


def test_the_conversion_is_made_once_and_reused(monkeypatch) -> None:
    shared_model("smollm2-135m").load()  # converts on first use, then loads the conversion
    first = ensure_converted(smollm2_folder(), SMOLLM2_GGUF)
    written = (first / "model.safetensors").stat().st_mtime_ns
    again = ensure_converted(smollm2_folder(), SMOLLM2_GGUF)
    assert again == first == converted_folder(smollm2_folder() / SMOLLM2_GGUF)
    assert (again / "model.safetensors").stat().st_mtime_ns == written
    assert {"config.json", "tokenizer.json", "generation_config.json"} <= set(os.listdir(first))
    assert not [name for name in os.listdir(first.parent) if name.startswith(".")], (
        "no half-built folder left"
    )


def test_the_key_follows_the_file_content(tmp_path: Path) -> None:
    one, two = tmp_path / "a.gguf", tmp_path / "b.gguf"
    one.write_bytes(b"GGUF one")
    two.write_bytes(b"GGUF two")
    assert conversion_key(one) != conversion_key(two)
    assert conversion_key(one) == conversion_key(one)
