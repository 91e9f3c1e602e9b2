"""The image loader (issue 15, "What the model sees"): every variant of a page decodes to the page itself.

The variants are built with Pillow from the repository's passport image; each must decode to exactly the
pixels of the page it encodes (a grey variant to the grey page).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from model_interface import GenerationRequest, ImageDecodeError, load_image, load_pages, to_rgb
from PIL import Image, ImageChops

PASSPORT = (
    Path(__file__).resolve().parents[3] / "data" / "vlmhyperbench_sample" / "demo_mini" / "images" / "1.jpg"
)


@pytest.fixture(scope="module")
def page() -> Image.Image:
    with Image.open(PASSPORT) as opened:
        return opened.convert("RGB").resize((380, 267))  # small: the tests stay fast


@pytest.fixture(scope="module")
def grey(page: Image.Image) -> Image.Image:
    return page.convert("L")


def assert_same(decoded: Image.Image, expected: Image.Image) -> None:
    assert decoded.mode == "RGB" and decoded.size == expected.size
    assert ImageChops.difference(decoded, expected.convert("RGB")).getbbox() is None


def sixteen_bit(grey: Image.Image) -> Image.Image:
    return grey.convert("I").point(lambda v: v * 257).convert("I;16")  # 0..255 -> 0..65535


def test_16bit_png_is_scaled_by_range_not_clipped_to_white(tmp_path, grey) -> None:
    sixteen_bit(grey).save(tmp_path / "scan.png")
    assert Image.open(tmp_path / "scan.png").mode == "I;16"
    assert_same(load_image(tmp_path / "scan.png"), grey)


def test_16bit_tiff_little_and_big_endian_are_scaled(tmp_path, grey) -> None:
    little = sixteen_bit(grey)
    little.save(tmp_path / "le.tif")
    big = Image.frombytes("I;16B", little.size, little.tobytes("raw", "I;16B"))
    big.save(tmp_path / "be.tif")
    assert Image.open(tmp_path / "be.tif").mode == "I;16B"
    assert_same(load_image(tmp_path / "le.tif"), grey)
    assert_same(load_image(tmp_path / "be.tif"), grey)


def test_32bit_and_float_images_are_scaled_by_their_range(grey) -> None:
    assert_same(to_rgb(grey.convert("I")), grey)  # 8-bit values held in a 32-bit mode
    assert_same(to_rgb(grey.convert("F").point(lambda v: v / 255.0)), grey)  # floats in 0..1
    stretched = to_rgb(Image.frombytes("I", (2, 1), b"\x00\x00\x01\x00\x00\x00\x02\x00"))  # 65536, 131072
    assert [stretched.getpixel((x, 0)) for x in (0, 1)] == [(0, 0, 0), (255, 255, 255)]


def test_exif_orientation_6_is_turned_upright(tmp_path, page) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the pixels are stored turned 90 degrees counter-clockwise
    page.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif)
    assert_same(load_image(tmp_path / "phone.png"), page)
    page.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "phone.jpg") as stored:
        assert stored.size == (page.height, page.width)
        assert_same(load_image(tmp_path / "phone.jpg"), stored.transpose(Image.Transpose.ROTATE_270))


def test_rgba_and_la_with_black_under_transparent_alpha_are_composited_on_white(tmp_path, grey) -> None:
    ink = ImageChops.invert(grey)  # black ink, as opaque as the page is dark; paper fully transparent
    rgba = Image.new("RGBA", grey.size, (0, 0, 0, 0))
    rgba.putalpha(ink)
    rgba.save(tmp_path / "rgba.png")
    Image.merge("LA", (Image.new("L", grey.size, 0), ink)).save(tmp_path / "la.png")
    assert_same(load_image(tmp_path / "rgba.png"), grey)
    assert_same(load_image(tmp_path / "la.png"), grey)


def test_palette_with_a_transparent_colour_is_white_there() -> None:
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([0, 0, 0, 10, 20, 30])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    decoded = to_rgb(palette)
    assert [decoded.getpixel((x, 0)) for x in (0, 1)] == [(255, 255, 255), (10, 20, 30)]


def test_cmyk_palette_one_bit_and_grey_become_rgb(tmp_path, page, grey) -> None:
    page.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.mode == "RGB" and max(high for _, high in ImageChops.difference(cmyk, page).getextrema()) < 64
    quantized = page.quantize(256)
    quantized.save(tmp_path / "palette.png")
    assert_same(load_image(tmp_path / "palette.png"), quantized)
    assert_same(to_rgb(grey), grey)
    one_bit = grey.convert("1")
    assert_same(to_rgb(one_bit), one_bit)


def test_multi_page_tiff_is_read_as_its_pages(tmp_path, page, grey) -> None:
    flipped = page.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    page.save(tmp_path / "pages.tif", save_all=True, append_images=[grey, flipped])
    pages = load_pages(tmp_path / "pages.tif")
    assert len(pages) == 3
    for decoded, expected in zip(pages, [page, grey, flipped], strict=True):
        assert_same(decoded, expected)
    assert len(load_pages(tmp_path / "pages.tif", first_only=True)) == 1
    with pytest.raises(ImageDecodeError, match=r"multi-page image \(3 pages\)"):
        load_image(tmp_path / "pages.tif")
    request = GenerationRequest(prompt="?", images=[tmp_path / "pages.tif", page])
    assert len(request.load_images()) == 4  # a multi-page file gives the model each of its pages


def test_truncated_jpeg_raises_a_clear_error(tmp_path) -> None:
    data = PASSPORT.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ImageDecodeError, match=r"cannot decode image .*cut\.jpg: OSError: image file is truncated"
    ):
        load_pages(tmp_path / "cut.jpg")
    with pytest.raises(ImageDecodeError, match="image not found"):
        load_pages(tmp_path / "missing.jpg")
    with pytest.raises(ImageDecodeError, match="cannot read image"):
        load_pages(b"not an image")


def test_bytes_and_open_images_are_loaded_alike(page) -> None:
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    assert_same(load_image(buffer.getvalue()), page)
    assert_same(load_image(page), page)
