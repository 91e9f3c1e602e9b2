"""Turns the candidate rows a format reader found into the normalized sample table.

A reader parses its format into `RowDraft`s (or rejects a row it cannot parse). `SampleAssembler` then
checks what every format shares - images exist, stay inside the dataset folder and decode, the question
and answers are not empty - gives each row its content-derived `sample_id`, and validates the tables.
Every refused row lands in the quarantine table with a reason; nothing is dropped silently.

Images are decoded here, fully, by the model contract's loader (`model_interface.images`), so a truncated
or corrupt file is quarantined when the dataset is read, not at inference. A multi-page file (a multi-page
TIFF, or any format with several frames) becomes several pages of its sample: one PNG per page, written to
the image cache folder, listed in order in `image_paths` (or only its first page, when the task says
`dataset: {pages: first}`).

Image paths are resolved in one place (`SampleAssembler._resolve_local`): backslashes are separators
(`images\\x.jpg`), and a name that is not found as written is looked up in Unicode NFC and NFD form.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import PIL
import polars as pl
from model_interface.images import ImageDecodeError, load_pages, page_count
from PIL import Image

from vlm_pipelines.schemas import (
    QUARANTINE_POLARS_SCHEMA,
    SAMPLE_POLARS_SCHEMA,
    QuarantineSchema,
    ReadResult,
    SampleSchema,
)

# Quarantine reasons: the reason column starts with one of these, followed by ": <detail>" when useful.
REASON_IMAGE_NOT_FOUND = "image not found"
REASON_CORRUPT_IMAGE = "corrupt image"
REASON_IMAGE_ESCAPES = "image path escapes dataset folder"
REASON_NO_IMAGE = "no image"
REASON_EMPTY_QUESTION = "empty question"
REASON_EMPTY_ANSWER = "empty answer"
REASON_MALFORMED = "malformed row"
REASON_DUPLICATE = "duplicate row"

DEFAULT_SPLIT = "test"
# Where page images extracted from multi-page files go when the reader was given no image cache folder.
DEFAULT_CACHE_FOLDER = ".images"

PagesMode = Literal["all", "first"]
PAGES_MODES: tuple[str, ...] = ("all", "first")


class RowRejected(Exception):
    """Raised while building a row: the row goes to quarantine with this reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class LocalImage:
    """An image file named by the annotation, relative to the dataset folder (or absolute inside it)."""

    path: str


@dataclass(frozen=True)
class EmbeddedImage:
    """Image bytes stored inside the annotation file (base64 in TSV, binary in Parquet)."""

    data: bytes


ImageRef = LocalImage | EmbeddedImage


@dataclass
class RowDraft:
    """One candidate sample as a format reader parsed it, before the shared checks."""

    source_row: str
    raw: dict[str, Any]
    images: list[ImageRef]
    question: str
    answers: list[str]
    doc_type: str = ""
    field_name: str = ""
    split: str = DEFAULT_SPLIT
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Accepted:
    draft: RowDraft
    image_paths: list[str]
    image_digests: list[str]
    order: int

    def content_key(self) -> str:
        return json.dumps(
            [self.image_digests, self.draft.question, self.draft.field_name, self.draft.doc_type],
            ensure_ascii=False,
        )

    def remaining_content(self) -> str:
        """What distinguishes rows that share a content key: answers, split, then metadata."""
        return json.dumps(
            [self.draft.answers, self.draft.split, _metadata_json(self.draft.metadata)], ensure_ascii=False
        )


def raw_json(raw: dict[str, Any]) -> str:
    return json.dumps(raw, ensure_ascii=False, default=str)


def _metadata_json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str)


def describe_payload(data: bytes | str) -> str:
    """A short stand-in for an image payload in a quarantined raw row (the bytes stay in the source file)."""
    as_bytes = data.encode() if isinstance(data, str) else data
    kind = "base64 text" if isinstance(data, str) else "bytes"
    return f"<image {kind}: {len(data)} long, sha256 {hashlib.sha256(as_bytes).hexdigest()[:16]}>"


def _decode_detail(error: ImageDecodeError) -> str:
    cause = error.__cause__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)


_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}


def _write_once(target: Path, data: bytes) -> Path:
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(target)
    return Path(os.path.abspath(target))


# Images shown to decode, by the sha256 of their bytes and the pages mode: (format, page count). Decoding is
# most of a dataset read, and the same bytes decode the same way: a later read, in this process or (through
# the marker files in `verified_dir`) in another, hashes the bytes and decodes nothing.
# At most DECODED_KEPT entries, the oldest out first (the markers on disk outlive them).
_DECODED: dict[tuple[str, str], tuple[str, int]] = {}
DECODED_KEPT = 200_000


def _marker(verified_dir: Path, digest: str, pages: PagesMode) -> Path:
    return verified_dir / f"pillow-{PIL.__version__}" / f"{digest}-{pages}"


def _decoded_before(digest: str, pages: PagesMode, verified_dir: Path | None) -> tuple[str, int] | None:
    known = _DECODED.get((digest, pages))
    if known is None and verified_dir is not None:
        try:
            name, count = _marker(verified_dir, digest, pages).read_text(encoding="ascii").split()
            known = _keep_decoded(digest, pages, (name, int(count)))
        except (OSError, ValueError):
            return None
    return known


def _keep_decoded(digest: str, pages: PagesMode, known: tuple[str, int]) -> tuple[str, int]:
    _DECODED[(digest, pages)] = known
    while len(_DECODED) > DECODED_KEPT:
        del _DECODED[next(iter(_DECODED))]
    return known


def _remember_decoded(
    digest: str, pages: PagesMode, verified_dir: Path | None, name: str, count: int
) -> None:
    _keep_decoded(digest, pages, (name, count))
    if verified_dir is not None:
        _write_once(_marker(verified_dir, digest, pages), f"{name} {count}".encode("ascii"))


def image_pages(
    data: bytes,
    path: Path | None,
    cache_dir: Path | None,
    pages: PagesMode = "all",
    verified_dir: Path | None = None,
) -> list[tuple[Path, str]]:
    """(path, digest) of each page the model is shown for image `data`, decoded fully here once (bytes seen to
    decode before, in this process or with a marker in `verified_dir`, are not decoded again).

    A single-page image is itself (`path`, or its bytes stored in `cache_dir` when it has no file).
    A multi-page one becomes one PNG per page in `cache_dir` (`<sha256>-page<N>.png`; only page 1 when
    `pages` is "first"). RowRejected (corrupt image) when any page does not decode."""
    digest = hashlib.sha256(data).hexdigest()
    known = _decoded_before(digest, pages, verified_dir)
    if known is not None and (known[1] == 1 or cache_dir is not None):
        name, count = known
        if count == 1:
            return _single_page(data, digest, name, path, cache_dir)
        stored = [
            (Path(os.path.abspath(_page_file(cache_dir, digest, number))), f"{digest}-page{number}")
            for number in range(1, (1 if pages == "first" else count) + 1)
        ]
        if all(target.is_file() for target, _ in stored):
            return stored
    try:
        with Image.open(io.BytesIO(data)) as image:
            name, count = image.format or "unknown", page_count(image)
        decoded = load_pages(data, first_only=pages == "first", copy=False)
    except ImageDecodeError as error:
        raise RowRejected(REASON_CORRUPT_IMAGE, _decode_detail(error)) from error
    except Exception as error:  # PIL raises many types for data it cannot identify
        raise RowRejected(REASON_CORRUPT_IMAGE, f"{type(error).__name__}: {error}") from error
    if count == 1:
        found = _single_page(data, digest, name, path, cache_dir)
        _remember_decoded(digest, pages, verified_dir, name, count)
        return found
    if cache_dir is None:
        raise ValueError("multi-page images need an image_cache_dir")
    stored = []
    for number, page in enumerate(decoded, start=1):  # already upright 8-bit RGB
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        target = _page_file(cache_dir, digest, number)
        stored.append((_write_once(target, buffer.getvalue()), f"{digest}-page{number}"))
    _remember_decoded(digest, pages, verified_dir, name, count)
    return stored


def _page_file(cache_dir: Path, digest: str, number: int) -> Path:
    """Where page `number` of a multi-page image is stored as PNG."""
    return cache_dir / f"{digest}-page{number}.png"


def _single_page(
    data: bytes, digest: str, name: str, path: Path | None, cache_dir: Path | None
) -> list[tuple[Path, str]]:
    if path is not None:
        return [(path, digest)]
    if cache_dir is None:
        raise ValueError("embedded images need an image_cache_dir")
    return [(_write_once(cache_dir / f"{digest}{_EXTENSIONS.get(name, '.img')}", data), digest)]


def _find_unicode_variant(path: Path, root: Path) -> Path | None:
    """`path` (inside `root`) with each missing component matched in NFC or NFD form, or None."""
    found = root
    for part in path.relative_to(root).parts:
        candidate = found / part
        if not candidate.exists():
            wanted = unicodedata.normalize("NFC", part)
            try:
                matches = [
                    entry for entry in found.iterdir() if unicodedata.normalize("NFC", entry.name) == wanted
                ]
            except OSError:
                return None
            if not matches:
                return None
            candidate = matches[0]
        found = candidate
    return found


class SampleAssembler:
    """Collects drafts and rejections for one dataset read and turns them into a `ReadResult`.

    `root` is the dataset folder: local image paths must stay inside it. Embedded images, and the pages of
    multi-page files, are written to `image_cache_dir` (default `<root>/.images`). `pages` is the task's
    `dataset.pages`: "all" pages of a multi-page file, or only the "first".
    """

    def __init__(self, root: Path, image_cache_dir: Path | None = None, pages: PagesMode = "all") -> None:
        if pages not in PAGES_MODES:
            raise ValueError(f"pages must be one of {PAGES_MODES}, not {pages!r}")
        self.root = Path(os.path.abspath(root))
        self.image_cache_dir = image_cache_dir
        self.pages = pages
        self._accepted: list[_Accepted] = []
        self._quarantine: list[tuple[str, str, str]] = []
        self._file_checks: dict[Path, list[tuple[Path, str]] | RowRejected] = {}

    def reject(self, source_row: str, reason: str, raw: dict[str, Any], detail: str = "") -> None:
        self._quarantine.append((source_row, f"{reason}: {detail}" if detail else reason, raw_json(raw)))

    def add(self, draft: RowDraft) -> None:
        try:
            self._check_text(draft)
            resolved = [page for image in draft.images for page in self._resolve(image)]
        except RowRejected as rejected:
            self.reject(draft.source_row, rejected.reason, draft.raw, rejected.detail)
            return
        self._accepted.append(
            _Accepted(
                draft=draft,
                image_paths=[str(path) for path, _ in resolved],
                image_digests=[digest for _, digest in resolved],
                order=len(self._accepted),
            )
        )

    def _check_text(self, draft: RowDraft) -> None:
        if not draft.question.strip():
            raise RowRejected(REASON_EMPTY_QUESTION)
        if not any(answer.strip() for answer in draft.answers):
            raise RowRejected(REASON_EMPTY_ANSWER, "no non-blank reference answer")
        if not draft.images and not str(draft.metadata.get("context") or "").strip():
            # A text-only sample (a chat question) is answered from its `context`; any other needs an image.
            raise RowRejected(REASON_NO_IMAGE)

    @property
    def _cache_dir(self) -> Path:
        return self.image_cache_dir if self.image_cache_dir is not None else self.root / DEFAULT_CACHE_FOLDER

    @property
    def _verified_dir(self) -> Path | None:
        """Where markers of images seen to decode are kept: only in a cache folder the caller gave (never
        in a dataset's own folder)."""
        return self.image_cache_dir / "decoded" if self.image_cache_dir is not None else None

    def _resolve(self, image: ImageRef) -> list[tuple[Path, str]]:
        if isinstance(image, EmbeddedImage):
            if self.image_cache_dir is None:
                raise ValueError("embedded images need an image_cache_dir")
            return image_pages(image.data, None, self.image_cache_dir, self.pages, self._verified_dir)
        return self._resolve_local(image.path)

    def _resolve_local(self, reference: str) -> list[tuple[Path, str]]:
        """The one place a dataset's image path is turned into a file: backslashes are separators, and a
        name not found as written is matched in Unicode NFC or NFD form."""
        if not reference.strip():
            raise RowRejected(REASON_NO_IMAGE, "empty image path")
        # Lexical normalisation (no symlink resolution): "../" and absolute paths outside the folder are
        # refused, while symlinked files inside it (e.g. a Hugging Face snapshot) keep working.
        path = Path(os.path.normpath(os.path.join(self.root, reference.replace("\\", "/"))))
        if not path.is_relative_to(self.root):
            raise RowRejected(REASON_IMAGE_ESCAPES, f"{reference} is outside {self.root}")
        if path not in self._file_checks:
            self._file_checks[path] = self._verify_file(path, reference)
        outcome = self._file_checks[path]
        if isinstance(outcome, RowRejected):
            raise outcome
        return outcome

    def _verify_file(self, path: Path, reference: str) -> list[tuple[Path, str]] | RowRejected:
        try:
            if not path.is_file():
                variant = _find_unicode_variant(path, self.root)
                if variant is None or not variant.is_file():
                    return RowRejected(REASON_IMAGE_NOT_FOUND, reference)
                path = variant
        except OSError as error:  # e.g. a file name too long for the file system
            return RowRejected(REASON_IMAGE_NOT_FOUND, f"{reference}: {error.strerror}")
        try:
            data = path.read_bytes()
        except OSError as error:
            return RowRejected(REASON_CORRUPT_IMAGE, f"{reference}: unreadable ({error.strerror})")
        try:
            return image_pages(data, path, self._cache_dir, self.pages, self._verified_dir)
        except RowRejected as rejected:
            return RowRejected(rejected.reason, f"{reference}: {rejected.detail}")

    def result(self, format_name: str, source: Path, encoding: str | None = None) -> ReadResult:
        """The validated tables. Every record offered (`add` or `reject`) ends up in exactly one of
        them, so `samples + quarantine == records`."""
        records = len(self._accepted) + len(self._quarantine)
        rows: list[tuple[int, dict[str, Any]]] = []
        by_key: dict[str, list[_Accepted]] = {}
        for accepted in self._accepted:
            by_key.setdefault(accepted.content_key(), []).append(accepted)
        for content_key, group in by_key.items():
            base_id = hashlib.sha256(content_key.encode()).hexdigest()[:16]
            # Exact duplicates (same content, answers and split) are quarantined; the first one in file
            # order stays. Different rows that share a content key get "-2", "-3" in content order.
            distinct: dict[tuple[str, str], _Accepted] = {}
            for accepted in group:
                identity = (json.dumps(accepted.draft.answers, ensure_ascii=False), accepted.draft.split)
                if identity in distinct:
                    kept = distinct[identity].draft.source_row
                    self.reject(
                        accepted.draft.source_row, REASON_DUPLICATE, accepted.draft.raw, f"same as {kept}"
                    )
                else:
                    distinct[identity] = accepted
            ordered = sorted(distinct.values(), key=_Accepted.remaining_content)
            for position, accepted in enumerate(ordered, start=1):
                sample_id = base_id if position == 1 else f"{base_id}-{position}"
                rows.append((accepted.order, _sample_row(sample_id, accepted)))
        rows.sort(key=lambda pair: pair[0])  # file order
        columns = {name: [row[name] for _, row in rows] for name in SAMPLE_POLARS_SCHEMA}
        samples = SampleSchema.validate(pl.DataFrame(columns, schema=SAMPLE_POLARS_SCHEMA))
        quarantine = QuarantineSchema.validate(
            pl.DataFrame(self._quarantine, schema=QUARANTINE_POLARS_SCHEMA, orient="row")
        )
        assert samples.height + quarantine.height == records, (samples.height, quarantine.height, records)
        return ReadResult(
            samples=samples,
            quarantine=quarantine,
            format=format_name,
            source=source,
            records=records,
            encoding=encoding,
        )


def _sample_row(sample_id: str, accepted: _Accepted) -> dict[str, Any]:
    draft = accepted.draft
    return {
        "sample_id": sample_id,
        "image_paths": accepted.image_paths,
        "question": draft.question,
        "answers": draft.answers,
        "doc_type": draft.doc_type,
        "field_name": draft.field_name,
        "split": draft.split,
        "metadata": _metadata_json(draft.metadata),
        "source_row": draft.source_row,
    }
