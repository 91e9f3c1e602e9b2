"""Registered ids, cheap availability, and what happens when real Qwen weights are missing."""

import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
from model_hf.registry import HUB_CHECKPOINTS, model_specs
from model_interface import ModelUnavailableError, UnknownModelError, create_model, get_spec

EXPECTED_IDS = {"smollm2-135m", "tiny-qwen2.5-vl", *HUB_CHECKPOINTS}


def test_registers_the_expected_ids() -> None:
    assert {spec.model_id for spec in model_specs()} == EXPECTED_IDS
    assert {
        "qwen2-vl-2b",
        "qwen2.5-vl-3b",
        "qwen2.5-vl-7b",
        "qwen3-vl-2b",
        "paligemma2-3b-448",
    } <= EXPECTED_IDS
    assert {"qwen2.5-vl-3b": "Qwen/Qwen2.5-VL-3B-Instruct"}.items() <= HUB_CHECKPOINTS.items()


def test_ids_are_discoverable_through_the_entry_point() -> None:
    for model_id in EXPECTED_IDS:
        assert get_spec(model_id).package == "model-hf"


def test_smollm2_is_text_only_and_points_at_the_wheel_gguf() -> None:
    spec = get_spec("smollm2-135m")
    assert spec.modality == "text"
    params = spec.validate_params()
    assert (Path(params.model_path) / params.gguf_file).is_file()
    assert spec.availability().ok


def test_tiny_qwen_says_it_has_random_weights() -> None:
    spec = get_spec("tiny-qwen2.5-vl")
    assert "random weights" in spec.description.lower()
    assert spec.modality == "vision"
    assert spec.availability().ok


@pytest.mark.slow
def test_import_and_availability_do_not_import_torch() -> None:
    code = (
        "import sys, model_hf\n"
        "from model_hf.registry import model_specs\n"
        "[spec.availability() for spec in model_specs()]\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'torchvision') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "heavy: []" in run.stdout


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("model_id", sorted(HUB_CHECKPOINTS))
def test_missing_qwen_weights_are_unavailable_with_instructions(model_id: str, empty_hf_cache: Path) -> None:
    availability = get_spec(model_id).availability()
    assert not availability.ok
    assert f"huggingface-cli download {HUB_CHECKPOINTS[model_id]} --local-dir DIR" in availability.reason
    assert "model_path: DIR" in availability.reason
    assert "--model-param model_path=DIR" in availability.reason


def test_loading_missing_qwen_weights_raises_the_same_instructions(empty_hf_cache: Path) -> None:
    model = create_model("qwen2.5-vl-3b")
    with pytest.raises(ModelUnavailableError, match=r"huggingface-cli download Qwen/Qwen2.5-VL-3B-Instruct"):
        model.load()
    assert not model.is_loaded


def test_cached_qwen_snapshot_is_found_without_network(empty_hf_cache: Path) -> None:
    # The layout huggingface_hub writes: refs/main names the snapshot folder.
    repo = empty_hf_cache / "models--Qwen--Qwen2-VL-2B-Instruct"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text("{}")
    assert not get_spec("qwen2-vl-2b").availability().ok  # config alone is not a checkpoint
    (snapshot / "model.safetensors.index.json").write_text("{}")
    assert get_spec("qwen2-vl-2b").availability().ok
    assert not get_spec("qwen2.5-vl-7b").availability().ok


def test_model_path_overrides_the_cache(tmp_path: Path, empty_hf_cache: Path) -> None:
    spec = get_spec("qwen2.5-vl-7b")
    assert not spec.availability({"model_path": str(tmp_path / "nowhere")}).ok
    (tmp_path / "config.json").write_text("{}")
    assert spec.availability({"model_path": str(tmp_path)}).ok


def test_unknown_model_id_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="qwen2.5-vl-3b"):
        get_spec("qwen2.5-vl-720b")


def test_a_model_without_weights_says_how_to_provide_them(tmp_path: Path) -> None:
    from model_hf import HFModel, HFParams

    with pytest.raises(ModelUnavailableError, match=r"--model-param model_path=DIR"):
        HFModel("bare").load()
    with pytest.raises(ModelUnavailableError, match="no GGUF file 'missing.gguf'"):
        HFModel("gguf", HFParams(model_path=str(tmp_path), gguf_file="missing.gguf")).load()
