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

The same bytes decode to the same pages, so each process keeps the pages it decoded, by the sha256 of the
bytes (`DECODED_PAGES`, `VLMBENCH_DECODED_PAGES_MB` of pixels, 1024 by default, 0 to keep none): a dataset
read, the model's preparation and the report decode a document once between them. Every caller gets its
own copy of the pages, unless it passes `copy=False` and only reads them.

Only Pillow's own operations are used.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

ImageSource = Image.Image | str | Path | bytes

# Modes whose samples are wider than 8 bits.
WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
# Modes (besides "P" and images with a `transparency` entry) that carry alpha.
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
BACKGROUND = (255, 255, 255)
DEFAULT_DECODED_PAGES_MB = 1024


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
    return _rgb(image, owned=False)


def _rgb(image: Image.Image, *, owned: bool) -> Image.Image:
    """`to_rgb`; `owned`: `image` is a single-page image opened here for this call alone, so it is turned
    upright in place and, when it is RGB already, handed on without copying its pixels."""
    opened = image
    if owned:
        ImageOps.exif_transpose(image, in_place=True)
    else:
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
    elif image is opened:
        image = image._new(image.im)  # a plain Image on the same pixels, no longer tied to the file
    return image


def page_count(image: Image.Image) -> int:
    """How many pages (frames) an open image holds."""
    return int(getattr(image, "n_frames", 1) or 1)


def load_pages(source: ImageSource, *, first_only: bool = False, copy: bool = True) -> list[Image.Image]:
    """Every page of `source` (a path, bytes or an open image) as 8-bit RGB, fully decoded.

    `first_only` reads the first page alone. `copy=False` may return the pages other callers share (saving
    a copy of each): read them, never change them. Raises `ImageDecodeError` when the file is missing, not
    an image, truncated or corrupt."""
    if isinstance(source, Image.Image):
        return _decoded_pages(source, source, first_only)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except FileNotFoundError as error:
        raise ImageDecodeError(f"image not found: {_name(source)}") from error
    except OSError as error:
        raise _unreadable(source, error) from error
    digest = hashlib.sha256(data).digest()
    kept = (
        DECODED_PAGES.find((digest, False), (digest, True))
        if first_only
        else DECODED_PAGES.find((digest, False))
    )
    if kept is not None:
        kept = kept[:1] if first_only else kept
        return [page.copy() for page in kept] if copy else list(kept)
    try:
        opened = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise ImageDecodeError(
            f"cannot read image {_name(source)}: UnidentifiedImageError: not an image Pillow can identify"
        ) from error
    except Exception as error:  # PIL raises many types for data it cannot identify
        raise _unreadable(source, error) from error
    with opened:
        pages = _decoded_pages(opened, source, first_only, owned=True)
    if not DECODED_PAGES.keep((digest, first_only), pages):
        return pages
    return [page.copy() for page in pages] if copy else list(pages)


def _unreadable(source: ImageSource, error: Exception) -> ImageDecodeError:
    return ImageDecodeError(f"cannot read image {_name(source)}: {type(error).__name__}: {error}")


class PageCache:
    """Lists of pages by key, least recently used out first once their pixels pass `budget` bytes. The lists
    kept are shared: callers never change them or their pages. `hits` and `misses` count the lookups."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.hits = self.misses = 0
        self._pages: OrderedDict[Any, tuple[list[Image.Image], int]] = OrderedDict()  # (pages, bytes)
        self._bytes = 0
        self._lock = threading.Lock()

    def find(self, *keys: Any) -> list[Image.Image] | None:
        """The pages kept under the first of `keys` that has any (one lookup, whatever the number of keys)."""
        with self._lock:
            for key in keys:
                kept = self._pages.get(key)
                if kept is not None:
                    self._pages.move_to_end(key)
                    self.hits += 1
                    return kept[0]
            self.misses += 1
        return None

    def keep(self, key: Any, pages: list[Image.Image]) -> bool:
        """Keeps `pages` when they fit the budget (from then on they are shared); whether it kept them."""
        size = sum(page.width * page.height * len(page.getbands()) for page in pages)
        if size > self.budget:
            return False
        with self._lock:
            if key not in self._pages:
                self._pages[key] = (pages, size)
                self._bytes += size
            while self._bytes > self.budget:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._bytes -= dropped
        return True

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._bytes = 0


def _budget_from_environment() -> int:
    text = os.environ.get("VLMBENCH_DECODED_PAGES_MB", str(DEFAULT_DECODED_PAGES_MB))
    try:
        megabytes = int(text)
    except ValueError:
        warnings.warn(
            f"VLMBENCH_DECODED_PAGES_MB={text!r} is not a whole number of megabytes; keeping up to "
            f"{DEFAULT_DECODED_PAGES_MB} MB of decoded pages (set it to 0 to keep none)",
            stacklevel=2,
        )
        megabytes = DEFAULT_DECODED_PAGES_MB
    return max(megabytes, 0) * 2**20


# Decoded pages by (the sha256 of their bytes, whether only the first page was read); a miss is a decode.
DECODED_PAGES = PageCache(_budget_from_environment())


def _decoded_pages(
    image: Image.Image, source: ImageSource, first_only: bool, owned: bool = False
) -> list[Image.Image]:
    pages = []
    owned = owned and page_count(image) == 1  # the frames of a multi-page image share its buffer
    try:
        for index in range(1 if first_only else page_count(image)):
            image.seek(index)
            image.load()
            pages.append(_rgb(image, owned=owned))
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
