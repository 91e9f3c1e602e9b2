"""The one image loader: every reader, model package, the model service and the chat open images here.

    pages = load_pages("scan.tif")     # every page, as 8-bit RGB
    page = load_image("photo.jpg")     # a single-page image (ImageDecodeError for a multi-page file)
    page = to_rgb(pil_image)           # an image already open

What a model sees is what the file shows:
- EXIF orientation is applied (a phone photo stored sideways with Orientation=6 is turned upright);
- 16-bit and 32-bit images (modes I;16, I;16B, I;16L, I, F) are scaled to 8 bits by their range
  (0-65535, or 0.0-1.0 for floats, stretched from min..max only when the values exceed that range),
  never clipped to white;
- alpha (RGBA, LA, PA, a palette or grey image with a transparent colour) is composited on white;
- CMYK, palette, 1-bit, grey and YCbCr images become RGB;
- a multi-page document (multi-page TIFF, or any format with `n_frames > 1`) is read as its pages;
- every page is decoded fully, so a truncated or corrupt file raises `ImageDecodeError` naming the file.

Only Pillow's own operations are used.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

ImageSource = Image.Image | str | Path | bytes

# Modes whose samples are wider than 8 bits.
WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
# Modes (besides "P" and images with a `transparency` entry) that carry alpha.
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
BACKGROUND = (255, 255, 255)


class ImageDecodeError(ValueError):
    """An image file that cannot be read: missing, not an image, truncated or corrupt."""


def _name(source: ImageSource) -> str:
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return "<image>"
    return str(source)


def _to_8bit(image: Image.Image) -> Image.Image:
    """A grey 8-bit ("L") image from a 16/32-bit or float one, scaled by its range instead of clipped."""
    wide = image if image.mode in ("I", "F") else image.convert("I")
    low, high = wide.getextrema()
    if wide.mode == "F" and low >= 0.0 and high <= 1.0:
        top = 1.0  # float images in 0..1
        low = 0.0
    elif low >= 0 and high <= 255 and image.mode in ("I", "F"):
        top, low = 255, 0  # 8-bit values stored in a wide mode
    elif low >= 0 and high <= 65535:
        top, low = 65535, 0  # 16-bit samples: 0..65535 -> 0..255
    else:
        top = high if high > low else low + 1  # other ranges: stretched from min..max
    scale = 255.0 / (top - low)
    return wide.point(lambda value: (value - low) * scale).convert("L")


def to_rgb(image: Image.Image) -> Image.Image:
    """One decoded page as 8-bit RGB, upright, alpha composited on white (see the module docstring)."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in WIDE_MODES:
        image = _to_8bit(image)
    if image.mode == "1":
        image = image.convert("L")
    if image.mode in ALPHA_MODES or image.mode == "P" or "transparency" in image.info:
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:  # some pixel is not opaque
            background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return rgba.convert("RGB")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, bytes):
        return Image.open(io.BytesIO(source))
    return Image.open(source)


def page_count(image: Image.Image) -> int:
    """How many pages (frames) an open image holds."""
    return int(getattr(image, "n_frames", 1) or 1)


def load_pages(source: ImageSource, *, first_only: bool = False) -> list[Image.Image]:
    """Every page of `source` (a path, bytes or an open image) as 8-bit RGB, fully decoded.

    `first_only` reads the first page alone. Raises `ImageDecodeError` when the file is missing, not an
    image, truncated or corrupt."""
    if isinstance(source, Image.Image):
        return _decoded_pages(source, source, first_only)
    try:
        opened = _open(source)
    except FileNotFoundError as error:
        raise ImageDecodeError(f"image not found: {_name(source)}") from error
    except Exception as error:  # PIL raises many types for data it cannot identify
        raise ImageDecodeError(
            f"cannot read image {_name(source)}: {type(error).__name__}: {error}"
        ) from error
    with opened:
        return _decoded_pages(opened, source, first_only)


def _decoded_pages(image: Image.Image, source: ImageSource, first_only: bool) -> list[Image.Image]:
    pages = []
    try:
        for index in range(1 if first_only else page_count(image)):
            image.seek(index)
            image.load()
            pages.append(to_rgb(image))
    except Exception as error:
        where = f" (page {index + 1})" if page_count(image) > 1 else ""
        raise ImageDecodeError(
            f"cannot decode image {_name(source)}{where}: {type(error).__name__}: {error}"
        ) from error
    finally:
        if page_count(image) > 1:
            image.seek(0)
    return pages


def load_image(source: ImageSource) -> Image.Image:
    """A single-page image as 8-bit RGB; `ImageDecodeError` for a multi-page file (use `load_pages`)."""
    pages = load_pages(source)
    if len(pages) != 1:
        raise ImageDecodeError(f"{_name(source)} is a multi-page image ({len(pages)} pages); use load_pages")
    return pages[0]
