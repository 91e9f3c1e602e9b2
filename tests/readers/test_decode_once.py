"""Issue 21: the dataset step costs no more than reading the data. An image is decoded in full once, to
quarantine what does not decode; a later read of the same bytes (in this process, or in another through the
markers in the image cache) hashes them and decodes nothing. What does not decode is decoded, and
quarantined, on every read."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vlm_pipelines.readers import normalize
from vlm_pipelines.readers.normalize import LocalImage, RowDraft, SampleAssembler


def _dataset(root: Path) -> None:
    root.mkdir()
    Image.new("RGB", (40, 30), "white").save(root / "good.png")
    Image.effect_noise((64, 64), 60).convert("RGB").save(root / "broken.png")
    whole = (root / "broken.png").read_bytes()
    (root / "broken.png").write_bytes(whole[: len(whole) // 2])  # opens, then fails to decode
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    frames[0].save(root / "two.tif", save_all=True, append_images=frames[1:])


def _read(root: Path, cache: Path | None):
    assembler = SampleAssembler(root, cache)
    for name in ("good.png", "broken.png", "two.tif"):
        assembler.add(RowDraft(name, {"image": name}, [LocalImage(name)], f"what is {name}?", ["x"]))
    return assembler.result("test", root)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of bytes each full decode was given; the in-process memory starts empty, as in a new
    process."""
    monkeypatch.setattr(normalize, "_DECODED", {})
    calls: list[int] = []
    real = normalize.load_pages

    def counting(data, **options):
        calls.append(len(data))
        return real(data, **options)

    monkeypatch.setattr(normalize, "load_pages", counting)
    return calls


def test_a_second_read_decodes_only_what_failed_and_gives_the_same_tables(
    tmp_path: Path, decodes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cache = tmp_path / "data", tmp_path / "cache"
    _dataset(root)
    first = _read(root, cache)
    assert len(decodes) == 3
    assert first.samples.height == 2 and first.quarantine.height == 1
    assert first.quarantine["reason"][0].startswith("corrupt image")

    decodes.clear()
    again = _read(root, cache)  # the same process
    assert len(decodes) == 1  # the broken file only
    assert again.samples.equals(first.samples) and again.quarantine.equals(first.quarantine)

    monkeypatch.setattr(normalize, "_DECODED", {})  # another process: the markers in the cache remain
    decodes.clear()
    elsewhere = _read(root, cache)
    assert len(decodes) == 1
    assert elsewhere.samples.equals(first.samples) and elsewhere.quarantine.equals(first.quarantine)


def test_changed_bytes_and_a_removed_page_file_are_decoded_again(tmp_path: Path, decodes: list[int]) -> None:
    root, cache = tmp_path / "data", tmp_path / "cache"
    _dataset(root)
    first = _read(root, cache)
    Image.new("RGB", (41, 30), "white").save(root / "good.png")  # new bytes
    for page in cache.glob("*-page2.png"):  # the stored page of the two-page file is gone
        page.unlink()
    decodes.clear()
    again = _read(root, cache)
    assert sorted(decodes) == sorted(
        [
            (root / "good.png").stat().st_size,
            (root / "broken.png").stat().st_size,
            (root / "two.tif").stat().st_size,
        ]
    )
    assert again.samples.height == first.samples.height == 2
    assert all(Path(path).is_file() for paths in again.samples["image_paths"] for path in paths)


def test_no_marker_is_written_into_a_dataset_folder(tmp_path: Path, decodes: list[int]) -> None:
    root = tmp_path / "data"
    _dataset(root)
    _read(root, None)  # a reader used alone: multi-page files go to <folder>/.images, markers nowhere
    assert not any(path.name == "decoded" for path in root.rglob("*"))
    decodes.clear()
    _read(root, None)
    assert len(decodes) == 1  # this process remembers what decoded


def test_the_memory_of_decoded_images_is_bounded_and_the_markers_stand_in(
    tmp_path: Path, decodes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cache = tmp_path / "data", tmp_path / "cache"
    _dataset(root)
    monkeypatch.setattr(normalize, "DECODED_KEPT", 1)
    first = _read(root, cache)
    assert len(normalize._DECODED) == 1  # the two that decoded, the older one out
    decodes.clear()
    again = _read(root, cache)  # the forgotten one is found by its marker, not decoded
    assert len(decodes) == 1  # the broken file only
    assert again.samples.equals(first.samples) and again.quarantine.equals(first.quarantine)


def test_the_pages_a_read_decoded_are_not_decoded_again_by_the_model_or_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_interface import images

    from vlm_pipelines.reports.explorer import page_uris

    monkeypatch.setattr(normalize, "_DECODED", {})
    kept = images.PageCache(64 * 2**20)
    monkeypatch.setattr(images, "DECODED_PAGES", kept)
    root = tmp_path / "data"
    _dataset(root)
    read = _read(root, tmp_path / "cache")
    assert kept.misses == 3  # each file decoded once, to quarantine what does not decode
    good = next(path for paths in read.samples["image_paths"] for path in paths if path.endswith("good.png"))
    page = images.load_pages(good)[0]  # as a model package prepares it
    assert page.size == (40, 30) and page.getpixel((0, 0)) == (255, 255, 255)
    assert page_uris(good)[0].startswith("data:image/png;base64,")  # as the report shows it
    assert kept.misses == 3 and kept.hits == 2
