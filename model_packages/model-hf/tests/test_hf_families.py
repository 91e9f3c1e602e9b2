"""The document VLM families of registry/models/gpu.yaml: each entry validates, its model-card settings are
part of the result key, availability says where the weights would be, and tiny random checkpoints of two
families (Qwen3-VL, Idefics3) answer through the generic adapter with those settings applied."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest
from model_hf import HFModel, HFParams
from model_hf.registry import GATED_REPOS, HUB_CHECKPOINTS
from model_hf.tiny_families import build_tiny_idefics3, build_tiny_qwen3_vl
from model_interface import GenerationConfig, GenerationRequest, get_spec
from PIL import Image

from vlm_pipelines.evaluation.identity import model_identity
from vlm_pipelines.model_registry import load_model_registry

GPU_REGISTRY = Path(__file__).resolve().parents[3] / "registry" / "models"
# One entry per family, with the setting its model card prescribes and another value of it.
FAMILY_SETTINGS = {
    "qwen2-vl-2b": ("max_pixels", 602112, 1003520),
    "qwen2.5-vl-3b": ("min_pixels", 200704, 3136),
    "qwen3-vl-4b": ("max_pixels", 1605632, 1003520),
    "internvl3-2b": ("max_tiles", 12, 6),
    "internvl3.5-8b": ("max_tiles", 12, 6),
    "smolvlm-2b": ("longest_edge", 1536, 1920),
    "smolvlm2-2.2b": ("image_splitting", True, False),
    "idefics3-8b": ("longest_edge", 1456, 1820),
    "llama-3.2-11b-vision": ("max_images", 1, 2),
    "paligemma2-3b-448": ("prompt_prefix", "answer en ", "answer fr "),
    "qwen2.5-vl-3b-vllm": ("max_pixels", 1605632, 1003520),
    "internvl3-2b-vllm": ("processor_kwargs", {"crop_to_patches": True, "max_patches": 12}, {}),
}


@pytest.fixture(scope="module")
def entries() -> dict:
    registry = load_model_registry(GPU_REGISTRY)
    assert not registry.errors
    return dict(registry.items())


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", sorted(FAMILY_SETTINGS))
def test_entry_validates_and_its_setting_is_part_of_the_key(entries: dict, name: str) -> None:
    entry = entries[name]
    setting, card_value, other_value = FAMILY_SETTINGS[name]
    params = get_spec(entry.model).validate_params(entry.params)
    assert getattr(params, setting) == card_value
    changed = entry.with_params({setting: other_value})
    get_spec(entry.model).validate_params(changed.params)
    assert model_identity(entry).params_hash != model_identity(changed).params_hash


def test_every_hf_entry_names_its_hub_repo(entries: dict) -> None:
    for model_id, repo_id in HUB_CHECKPOINTS.items():
        assert entries[model_id].params["repo_id"] == repo_id
        assert get_spec(model_id).validate_params().repo_id == repo_id


@pytest.mark.parametrize("model_id", sorted(HUB_CHECKPOINTS))
def test_absent_weights_say_where_they_would_be_and_how_to_get_them(
    entries: dict, model_id: str, empty_hf_cache: Path
) -> None:
    availability = get_spec(model_id).availability(entries[model_id].params)
    repo_id = HUB_CHECKPOINTS[model_id]
    assert not availability.ok
    assert f"the weights of {repo_id} are not in the Hugging Face cache" in availability.reason
    assert f"huggingface-cli download {repo_id} --local-dir DIR" in availability.reason
    assert "--model-param model_path=DIR" in availability.reason
    assert ("hf auth login" in availability.reason) == (repo_id in GATED_REPOS)


def test_present_weights_say_where_they_are(entries: dict, empty_hf_cache: Path, tmp_path: Path) -> None:
    repo = empty_hf_cache / "models--Qwen--Qwen3-VL-2B-Instruct"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_text("")
    spec = get_spec("qwen3-vl-2b")
    availability = spec.availability(entries["qwen3-vl-2b"].params)
    assert availability.ok
    assert availability.reason == f"weights: Qwen/Qwen3-VL-2B-Instruct in the Hugging Face cache ({snapshot})"
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.json").write_text("{}")
    assert spec.availability({"model_path": str(local)}).reason == f"weights: model_path {local}"


@pytest.fixture(scope="module")
def tiny_qwen3_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny-qwen3-vl"))


@pytest.fixture(scope="module")
def tiny_idefics3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_idefics3(tmp_path_factory.mktemp("tiny-idefics3"))


def answer_two(folder: Path, **settings: object) -> list:
    model = HFModel("tiny", HFParams(model_path=str(folder), device="cpu", dtype="float32", **settings))
    page = Image.new("RGB", (200, 120), "white")
    requests = [
        GenerationRequest(prompt="What is the total?", images=[page]),
        GenerationRequest(prompt="Date?", images=[page]),
    ]
    return model.generate(requests, GenerationConfig(max_new_tokens=4))


def test_tiny_qwen3_vl_answers_with_its_pixel_limits(tiny_qwen3_vl: Path) -> None:
    large = answer_two(tiny_qwen3_vl, min_pixels=64 * 64, max_pixels=128 * 128)
    small = answer_two(tiny_qwen3_vl, min_pixels=32 * 32, max_pixels=64 * 64)
    assert [result.error for result in large + small] == [None] * 4
    assert all(result.output_tokens == 4 and result.text for result in large + small)
    # A 200x120 page becomes 160x96 (5x3 tokens of 32x32 pixels) under the 128*128 cap, 64x32 (2x1) under 64*64.
    assert large[0].prompt_tokens - small[0].prompt_tokens == 15 - 2


def test_tiny_idefics3_answers_with_and_without_image_splitting(tiny_idefics3: Path) -> None:
    split = answer_two(tiny_idefics3, image_splitting=True, longest_edge=128)
    whole = answer_two(tiny_idefics3, image_splitting=False, longest_edge=128)
    assert [result.error for result in split + whole] == [None] * 4
    assert all(result.output_tokens == 4 for result in split + whole)
    # Split: 2x1 tiles of 64 px plus the global image, 4 tokens each; unsplit: the global image only.
    assert split[0].prompt_tokens > whole[0].prompt_tokens


def test_a_setting_of_another_family_fails_instead_of_being_ignored(tiny_qwen3_vl: Path) -> None:
    with pytest.raises(ValueError, match="max_tiles needs an InternVL or Llama-3.2-Vision image processor"):
        answer_two(tiny_qwen3_vl, max_tiles=4)


def test_max_images_fails_a_request_with_more_pages(tiny_qwen3_vl: Path) -> None:
    model = HFModel("tiny", HFParams(model_path=str(tiny_qwen3_vl), device="cpu", max_images=1))
    page = Image.new("RGB", (64, 64), "white")
    (result,) = model.generate(
        [GenerationRequest(prompt="Compare", images=[page, page])], GenerationConfig(max_new_tokens=2)
    )
    assert result.error == "ValueError: tiny reads at most 1 image(s); this request has 2"
