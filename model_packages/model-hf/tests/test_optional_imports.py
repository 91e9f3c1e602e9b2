"""transformers imported without scikit-learn and mistral-common where the checkpoint needs neither
(`model_hf.optional_imports`): the same answers, the packages still importable, and a clear error where a
later checkpoint would need what was hidden."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from model_hf.optional_imports import ENV_VAR, MISTRAL_COMMON, SKLEARN, hidden_packages

# One process per setting: transformers keeps its answer about an optional package for the process.
LOAD_AND_ANSWER = """
import importlib.util, json, sys
from pathlib import Path
from model_interface import GenerationConfig, GenerationRequest, ModelUnavailableError, create_model
from model_hf.optional_imports import import_transformers

model = create_model("tiny-qwen2.5-vl", {"num_threads": 1})
requests = [GenerationRequest(prompt="What is the total?", images=[path], request_id=path) for path in sys.argv[1:3]]
answers = [result.text for result in model.generate(requests, GenerationConfig(max_new_tokens=8))]
loaded = {name: name in sys.modules for name in ("sklearn", "mistral_common")}
findable = {name: importlib.util.find_spec(name) is not None for name in ("sklearn", "mistral_common")}
try:
    import_transformers(Path(sys.argv[3]))
    later_mistral_checkpoint = "loaded"
except ModelUnavailableError as error:
    later_mistral_checkpoint = str(error)
print(json.dumps({"answers": answers, "loaded": loaded, "findable": findable,
                  "later_mistral_checkpoint": later_mistral_checkpoint}))
"""


def test_a_checkpoint_with_a_mistral_common_tokenizer_keeps_the_package(tmp_path: Path) -> None:
    """Which checkpoints need it is model-interface's rule (`needs_mistral_common`, tested there)."""
    (tmp_path / "tekken").mkdir()
    (tmp_path / "tekken" / "tekken.json").write_text("{}")
    assert hidden_packages(tmp_path) == {SKLEARN, MISTRAL_COMMON}
    assert hidden_packages(tmp_path / "tekken") == {SKLEARN}


def test_the_variable_keeps_every_optional_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "all")
    assert hidden_packages(tmp_path) == frozenset()


@pytest.mark.slow
def test_the_same_answers_without_the_unused_packages(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    pages = []
    for index, size in enumerate([(200, 120), (90, 300)]):
        page = Image.new("RGB", size, "white")
        ImageDraw.Draw(page).text((5, 5), f"Total: {index}9.90", fill="black")
        pages.append(tmp_path / f"page{index}.png")
        page.save(pages[-1])
    mistral_checkpoint = tmp_path / "mistral"
    mistral_checkpoint.mkdir()
    (mistral_checkpoint / "tekken.json").write_text("{}")

    def run(**env: str) -> dict:
        environment = {key: value for key, value in os.environ.items() if key != ENV_VAR} | env
        done = subprocess.run(
            [sys.executable, "-c", LOAD_AND_ANSWER, *map(str, pages), str(mistral_checkpoint)],
            env=environment | {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"},
            capture_output=True,
            text=True,
            timeout=600,  # bounds a hang only
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    lean, everything = run(), run(**{ENV_VAR: "all"})

    assert lean["answers"] == everything["answers"] and len(lean["answers"]) == 2
    installed = {name: importlib.util.find_spec(name) is not None for name in (SKLEARN, MISTRAL_COMMON)}
    assert lean["loaded"] == {SKLEARN: False, MISTRAL_COMMON: False}
    assert everything["loaded"] == installed  # transformers imports whatever is installed
    assert lean["findable"] == everything["findable"] == installed  # hidden from transformers alone
    assert "mistral-common tokenizer" in lean["later_mistral_checkpoint"]
    assert f"{ENV_VAR}=all" in lean["later_mistral_checkpoint"]
    assert everything["later_mistral_checkpoint"] == "loaded"
