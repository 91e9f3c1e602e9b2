"""A checkpoint with a mistral-common tokenizer, loaded after model-hf imported transformers with mistral-common
hidden (`model_hf.optional_imports`), fails with the fix instead of deep inside vLLM's tokenizer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from model_vllm.checkpoints import hidden_mistral_common_problem

# A process of its own: transformers keeps its answer about mistral-common for the process.
AFTER_MODEL_HF = """
import json, sys
from pathlib import Path
from model_hf.optional_imports import import_transformers
from model_vllm.checkpoints import hidden_mistral_common_problem

import_transformers(Path(sys.argv[1]))  # what model-hf's load does first
print(json.dumps([hidden_mistral_common_problem(path) for path in sys.argv[1:]]))
"""


def checkpoints(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A Qwen checkpoint, one with a Tekken file, one whose tokenizer config names mistral-common's class."""
    plain, tekken, named = tmp_path / "qwen", tmp_path / "tekken", tmp_path / "named"
    for folder in (plain, tekken, named):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    (tekken / "tekken.json").write_text("{}")
    (named / "tokenizer_config.json").write_text('{"tokenizer_class": "MistralCommonBackend"}')
    return plain, tekken, named


def after_model_hf(tmp_path: Path, **env: str) -> list[str | None]:
    environment = {key: value for key, value in os.environ.items() if key != "VLMBENCH_TRANSFORMERS_OPTIONAL"}
    done = subprocess.run(
        [sys.executable, "-c", AFTER_MODEL_HF, *map(str, checkpoints(tmp_path))],
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=300,  # bounds a hang only
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_folder_without_a_mistral_tokenizer_has_no_problem(tmp_path: Path) -> None:
    plain, _, _ = checkpoints(tmp_path)
    assert hidden_mistral_common_problem(str(plain)) is None
    assert hidden_mistral_common_problem("Qwen/Qwen2.5-VL-3B-Instruct") is None  # a repo id, not cached


@pytest.mark.requires("vllm")  # mistral-common comes with the vllm extra
def test_a_mistral_tokenizer_after_model_hf_hid_mistral_common(tmp_path: Path) -> None:
    plain, tekken, named = after_model_hf(tmp_path / "lean")
    assert plain is None
    for problem in (tekken, named):  # the same rule as model-hf's (model_interface.checkpoints)
        assert problem is not None and "VLMBENCH_TRANSFORMERS_OPTIONAL=all" in problem
    assert after_model_hf(tmp_path / "all", VLMBENCH_TRANSFORMERS_OPTIONAL="all") == [None, None, None]
