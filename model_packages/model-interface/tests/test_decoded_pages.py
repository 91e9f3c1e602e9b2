"""Decoded pages kept per process (issue 21): the same bytes are decoded once, every caller gets pages it may
change, a changed file is decoded again, and the budget bounds what is kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from model_interface import ImageDecodeError, images, load_pages
from PIL import Image, ImageChops

PASSPORT = (
    Path(__file__).resolve().parents[3] / "data" / "vlmhyperbench_sample" / "demo_mini" / "images" / "1.jpg"
)


@pytest.fixture
def kept(monkeypatch) -> images.PageCache:
    """A fresh cache of the default budget; its `misses` are the decodes."""
    fresh = images.PageCache(images.DEFAULT_DECODED_PAGES_MB * 2**20)
    monkeypatch.setattr(images, "DECODED_PAGES", fresh)
    return fresh


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def test_the_same_bytes_are_decoded_once_from_a_file_or_from_bytes(tmp_path, kept) -> None:
    copy = tmp_path / "passport.jpg"
    copy.write_bytes(PASSPORT.read_bytes())
    first = load_pages(PASSPORT.read_bytes())
    again = load_pages(copy)
    assert (kept.misses, kept.hits) == (1, 1)
    assert same(first[0], again[0]) and first[0] is not again[0]
    with Image.open(PASSPORT) as opened:  # what the model sees is still the file (EXIF-free JPEG here)
        assert same(again[0], opened.convert("RGB"))


def test_a_caller_changing_its_pages_changes_no_one_elses(tmp_path, kept) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(png_bytes((10, 20, 30)))
    mine = load_pages(path)[0]
    mine.paste((255, 0, 0), (0, 0, 64, 48))
    mine.thumbnail((8, 8))
    theirs = load_pages(path)[0]
    assert theirs.size == (64, 48) and theirs.getpixel((5, 5)) == (10, 20, 30)
    assert kept.misses == 1


def test_readers_that_promise_not_to_change_pages_share_them(tmp_path, kept) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(png_bytes((1, 2, 3)))
    shared = load_pages(path, copy=False)
    shared.append("not a page")  # the list is the caller's own, even where its pages are not
    assert load_pages(path, copy=False) == shared[:1]
    assert load_pages(path, copy=False)[0] is shared[0]
    assert load_pages(path)[0] is not shared[0]
    assert load_pages(path, first_only=True, copy=False)[0] is shared[0]  # the first of all pages
    assert kept.misses == 1


def test_a_file_rewritten_with_other_pixels_is_decoded_again(tmp_path, kept) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(png_bytes((0, 0, 0)))
    assert load_pages(path)[0].getpixel((0, 0)) == (0, 0, 0)
    path.write_bytes(png_bytes((200, 100, 50)))
    assert load_pages(path)[0].getpixel((0, 0)) == (200, 100, 50)
    assert kept.misses == 2


def test_the_budget_bounds_the_pixels_kept_least_recently_used_out_first(monkeypatch) -> None:
    page_bytes = 64 * 48 * 3
    kept = images.PageCache(2 * page_bytes)
    monkeypatch.setattr(images, "DECODED_PAGES", kept)
    red, green, blue = (png_bytes(colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255)))
    load_pages(red)
    load_pages(green)
    load_pages(red)  # red is now the most recent
    load_pages(blue)  # green goes
    digest = images.hashlib.sha256
    assert kept.find((digest(red).digest(), False)) is not None
    assert kept.find((digest(blue).digest(), False)) is not None
    assert kept.find((digest(green).digest(), False)) is None
    nothing = images.PageCache(0)
    monkeypatch.setattr(images, "DECODED_PAGES", nothing)
    load_pages(red)
    assert nothing.find((digest(red).digest(), False)) is None


def test_the_budget_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("VLMBENCH_DECODED_PAGES_MB", "0")
    assert images._budget_from_environment() == 0
    monkeypatch.setenv("VLMBENCH_DECODED_PAGES_MB", "64")
    assert images._budget_from_environment() == 64 * 2**20
    monkeypatch.setenv("VLMBENCH_DECODED_PAGES_MB", "lots")
    with pytest.warns(UserWarning, match="VLMBENCH_DECODED_PAGES_MB='lots' is not a whole number"):
        assert images._budget_from_environment() == images.DEFAULT_DECODED_PAGES_MB * 2**20


def test_errors_name_the_file_and_are_not_kept(tmp_path, kept) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(b"plain text, not an image")
    for _ in range(2):
        with pytest.raises(ImageDecodeError) as raised:
            load_pages(path)
        assert str(raised.value) == (
            f"cannot read image {path}: UnidentifiedImageError: not an image Pillow can identify"
        )
    assert kept.misses == 2  # tried again: a failure is not kept
    with pytest.raises(ImageDecodeError, match="cannot read image .*IsADirectoryError"):
        load_pages(tmp_path)
