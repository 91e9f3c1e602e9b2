"""`needs_mistral_common`: the one rule model-hf and model-vllm share for a mistral-common tokenizer."""

from __future__ import annotations

from pathlib import Path

from model_interface.checkpoints import needs_mistral_common


def test_a_checkpoint_needs_mistral_common_for_a_tekken_file_or_its_tokenizer_class(tmp_path: Path) -> None:
    plain, tekken, named = (tmp_path / name for name in ("plain", "tekken", "named"))
    for folder in (plain, tekken, named):
        folder.mkdir()
        (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "Qwen2Tokenizer"}')
    (tekken / "tekken.json").write_text("{}")
    (named / "tokenizer_config.json").write_text('{"tokenizer_class": "MistralCommonBackend"}')
    assert [needs_mistral_common(folder) for folder in (plain, tekken, named)] == [False, True, True]
    assert not needs_mistral_common(tmp_path / "missing")  # not a folder (a repo id)
