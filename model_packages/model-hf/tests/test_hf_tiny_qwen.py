"""The tiny random-weight Qwen2.5-VL through AutoProcessor / AutoModelForImageTextToText.

Its text is noise (random weights); these tests pin the VLM code path: images of different sizes in one
left-padded batch, request order, per-request failures, timings, streaming.
"""

from pathlib import Path

import pytest
from model_hf.tiny_qwen import build_tiny_qwen, tiny_qwen_path
from model_interface import GenerationConfig, GenerationRequest, create_model
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow

GREEDY = GenerationConfig(max_new_tokens=12)
SIZES = [(100, 100), (300, 80), (50, 400), (640, 480)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    """A fresh VLMBENCH_CACHE, so the checkpoint is built by these tests."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("vlmbench-cache")
        patch.setenv("VLMBENCH_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def tiny_qwen(cache: Path):
    model = create_model("tiny-qwen2.5-vl")
    model.load()  # builds the checkpoint on first use
    return model


@pytest.fixture(scope="module")
def page_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pages")
    paths = []
    for index, (width, height) in enumerate(SIZES):
        page = Image.new("RGB", (width, height), "white")
        ImageDraw.Draw(page).text((5, 5), f"Total: {index}9.90", fill="black")
        paths.append(folder / f"page{index}.png")
        page.save(paths[-1])
    return paths


def requests_for(paths: list[Path]) -> list[GenerationRequest]:
    return [
        GenerationRequest(prompt="What is the total?", images=[path], request_id=f"page{index}")
        for index, path in enumerate(paths)
    ]


def test_builds_into_the_cache_atomically(tiny_qwen, cache: Path) -> None:
    folder = tiny_qwen_path()
    assert folder == cache / "models" / "tiny-qwen2.5-vl"
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= {
        path.name for path in folder.iterdir()
    }
    assert [path.name for path in folder.parent.iterdir()] == ["tiny-qwen2.5-vl"]  # no temp dir left behind


def test_build_is_deterministic(tiny_qwen, tmp_path: Path) -> None:
    build_tiny_qwen(tmp_path)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (tmp_path / name).read_bytes() == (tiny_qwen_path() / name).read_bytes()


def test_loads_through_the_auto_classes(tiny_qwen) -> None:
    assert tiny_qwen.is_multimodal
    assert type(tiny_qwen._processor).__name__ == "Qwen2_5_VLProcessor"
    assert type(tiny_qwen._model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert tiny_qwen._tokenizer.padding_side == "left"


def test_batch_of_four_differently_sized_pages_in_request_order(tiny_qwen, page_paths) -> None:
    requests = requests_for(page_paths)
    batch = tiny_qwen.generate(requests, GREEDY)
    alone = [tiny_qwen.generate([request], GREEDY)[0] for request in requests]
    assert [result.request_id for result in batch] == ["page0", "page1", "page2", "page3"]
    assert all(result.ok for result in batch), [result.error for result in batch]
    # Each page size gives its own number of image tokens, so prompt counts pin the order; the
    # left-padded batch decodes what each request decodes alone.
    assert len({result.prompt_tokens for result in alone}) == len(SIZES)
    assert [result.prompt_tokens for result in batch] == [result.prompt_tokens for result in alone]
    assert [result.text for result in batch] == [result.text for result in alone]
    for result in batch:
        assert 0 < result.ttft_s <= result.latency_s
        assert result.output_tokens > 0
        assert result.prompt_tokens > 0
        assert result.peak_memory_bytes > 0


def test_a_corrupt_page_fails_only_its_request(tiny_qwen, page_paths, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    paths = [page_paths[0], corrupt, page_paths[2], page_paths[3]]
    results = tiny_qwen.generate(requests_for(paths), GREEDY)
    assert [result.request_id for result in results] == ["page0", "page1", "page2", "page3"]
    assert [result.ok for result in results] == [True, False, True, True]
    assert "corrupt.png" in results[1].error
    assert all(result.output_tokens > 0 for result in results if result.ok)


def test_text_only_request_to_a_vision_model(tiny_qwen) -> None:
    result = tiny_qwen.generate([GenerationRequest(prompt="Hello?")], GREEDY)[0]
    assert result.ok and result.output_tokens > 0


def test_stream_concatenates_to_the_greedy_answer(tiny_qwen, page_paths) -> None:
    request = requests_for(page_paths[:1])[0]
    expected = tiny_qwen.generate([request], GREEDY)[0].text
    assert "".join(tiny_qwen.stream(request, GREEDY)) == expected


def test_sampling_is_reproducible_with_a_seed(tiny_qwen, page_paths) -> None:
    request = requests_for(page_paths[:1])[0]

    def sample(seed: int) -> str:
        config = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=seed)
        return tiny_qwen.generate([request], config)[0].text

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_max_pixels_caps_the_image_tokens(cache: Path, tiny_qwen, page_paths) -> None:
    request = requests_for(page_paths[3:])[0]  # 640x480: resized down to the default cap
    small = create_model("tiny-qwen2.5-vl", {"max_pixels": 56 * 56})
    capped = small.generate([request], GREEDY)[0]
    default = tiny_qwen.generate([request], GREEDY)[0]
    assert capped.ok, capped.error
    assert capped.prompt_tokens < default.prompt_tokens


def test_images_reach_the_processor_resized_as_the_reference_wrappers_resize_them(
    tiny_qwen, page_paths, tmp_path: Path
) -> None:
    """lmms-eval's and VLMEvalKit's Qwen-VL wrappers resize each image with Pillow (qwen_vl_utils.fetch_image:
    smart resize to multiples of patch x merge within the pixel limits, bicubic) before the processor; the model
    gets those pixels, not the processor's own resize of the original (which differ on a detailed page)."""
    import torch
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    detailed = tmp_path / "noise.png"
    Image.effect_noise((640, 480), 80).convert("RGB").save(detailed)
    image_processor = tiny_qwen._processor.image_processor
    for path in [*page_paths, detailed]:
        text, images = tiny_qwen._prepare(GenerationRequest(prompt="What is the total?", images=[path]))
        original = Image.open(path).convert("RGB")
        height, width = smart_resize(
            original.height, original.width, factor=28, min_pixels=56 * 56, max_pixels=112 * 112
        )
        reference = original.resize((width, height), Image.Resampling.BICUBIC)
        expected = image_processor(images=[reference], return_tensors="pt")["pixel_values"]
        assert torch.equal(tiny_qwen._encode([text], [images])["pixel_values"], expected), path.name
    unresized = image_processor(images=[original], return_tensors="pt")["pixel_values"]
    assert not torch.equal(unresized, expected)


def test_a_page_that_several_requests_share_is_prepared_once(
    tiny_qwen, page_paths, monkeypatch, tmp_path
) -> None:
    """Questions on one page decode and resize it once per process (a spy counts the preparations; the real
    preparation runs), with the answers it gives when every request prepares its own copy; a file rewritten
    in place is prepared again."""
    from model_hf.adapter import PreparedPages

    shared = tmp_path / "shared.png"
    shared.write_bytes(page_paths[3].read_bytes())
    requests = requests_for([shared, page_paths[0], shared, shared])
    prepared: list[str] = []
    real = tiny_qwen._prepare_pages

    def counting(source):
        prepared.append(Path(source).name)
        return real(source)

    monkeypatch.setattr(tiny_qwen, "_prepare_pages", counting)
    monkeypatch.setattr(tiny_qwen, "_prepared_pages", PreparedPages(0))  # nothing kept: each prepares its own
    uncached = [result.text for result in tiny_qwen.generate(requests, GREEDY)]
    assert prepared == ["shared.png", "page0.png", "shared.png", "shared.png"]

    prepared.clear()
    monkeypatch.setattr(tiny_qwen, "_prepared_pages", PreparedPages(2**20))
    assert [result.text for result in tiny_qwen.generate(requests, GREEDY)] == uncached
    assert prepared == ["shared.png", "page0.png"]

    shared.write_bytes(page_paths[1].read_bytes())  # another page under the same name
    rewritten = tiny_qwen.generate(requests_for([shared]), GREEDY)[0]
    assert prepared == ["shared.png", "page0.png", "shared.png"]
    original = tiny_qwen.generate(requests_for(page_paths[1:2]), GREEDY)[0]
    assert rewritten.prompt_tokens == original.prompt_tokens


def test_prepared_pages_keep_to_their_byte_budget(page_paths) -> None:
    from model_hf.adapter import PreparedPages
    from model_interface.images import load_pages

    # 100x100, 300x80, 50x400 and 640x480 pages, 3 bytes a pixel
    sizes = {path.name: path for path in page_paths}
    pages = PreparedPages(budget=100 * 100 * 3 + 300 * 80 * 3)
    first = pages.get(sizes["page0.png"], None, load_pages)
    assert pages.get(sizes["page0.png"], None, load_pages) is first  # kept
    second = pages.get(sizes["page1.png"], None, load_pages)
    pages.get(sizes["page0.png"], None, load_pages)  # page0 now the most recently used
    pages.get(sizes["page2.png"], None, load_pages)  # 50x400 pushes out the least recently used: page1
    assert pages.get(sizes["page0.png"], None, load_pages) is first
    assert pages.get(sizes["page1.png"], None, load_pages) is not second
    assert pages._bytes <= pages.budget
    assert pages.get(sizes["page3.png"], None, load_pages)[0].size == (640, 480)  # over the budget: not kept
    assert pages._bytes <= pages.budget
    assert pages.get(sizes["page0.png"], "other settings", load_pages) is not first  # settings are in the key
