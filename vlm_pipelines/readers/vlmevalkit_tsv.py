"""VLMEvalKit TSV: one row per question, images embedded as base64.

Columns: `index`, `image` (base64 bytes, a Python-list string of several, or - when 64 characters or
fewer - the `index` of another row whose image it reuses), `question`, `answer` (one answer, or several
as a Python-list string such as "['a', 'b']"), optional `category` (-> doc_type), `split`, options
`A`, `B`, ... (-> metadata.options), `image_path`; any other column goes to metadata.

VLMEvalKit's benchmark files (DocVQA_VAL, InfoVQA_VAL, ChartQA_TEST, OCRBench, TextVQA_VAL) have
`index`, `image`, `question`, `answer` (a list string for DocVQA, InfoVQA, TextVQA's ten and OCRBench),
OCRBench a `category` (its ten categories) and ChartQA_TEST a `split` (its human and augmented parts).

Every cell stays a string: "None", "NA" and "null" are answers, not missing values. Decoded images are
written, named by their sha256, to the image cache (default: `.images` next to the TSV).
"""

from __future__ import annotations

import ast
import base64
import binascii
import re
from pathlib import Path
from typing import Any

from vlm_pipelines.readers.delimited import (
    header_cells,
    physical_lines,
    read_text,
    split_rows,
    with_text_notes,
)
from vlm_pipelines.readers.normalize import (
    DEFAULT_SPLIT,
    REASON_CORRUPT_IMAGE,
    REASON_IMAGE_NOT_FOUND,
    REASON_MALFORMED,
    REASON_NO_IMAGE,
    EmbeddedImage,
    ImageRef,
    LocalImage,
    PagesMode,
    RowDraft,
    RowRejected,
    SampleAssembler,
    describe_payload,
)
from vlm_pipelines.schemas import ReadResult

FORMAT = "vlmevalkit_tsv"
DEFAULT_CACHE_FOLDER = ".images"
# VLMEvalKit's rule: an image cell this short is the index of the row holding the image.
MAX_IMAGE_REFERENCE_LENGTH = 64
REQUIRED_COLUMNS: tuple[str, ...] = ("index", "question", "answer")
_MAPPED_COLUMNS = frozenset({"index", "image", "image_path", "question", "answer", "category", "split"})
_OPTION_COLUMN = re.compile(r"^[A-Z]$")
_LONG_CELL = 4096  # cells longer than this are image payloads: abbreviated in quarantined raw rows


def _looks_like_list(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("[") and stripped.endswith("]")


def _literal_list(text: str) -> list[Any] | None:
    try:
        value = ast.literal_eval(text.strip())
    except Exception:  # literal_eval raises several types (and RecursionError) on odd input
        return None
    return value if isinstance(value, list) else None


def parse_answers(text: str) -> list[str]:
    """`"['a', 'b']"` -> `['a', 'b']`; anything that is not a Python list literal is one answer, as is."""
    if _looks_like_list(text):
        values = _literal_list(text)
        if values is not None and all(isinstance(value, str | int | float) for value in values):
            return [str(value) for value in values]
    return [text]


def _image_cells(text: str) -> list[str]:
    if _looks_like_list(text):
        values = _literal_list(text)
        if values is not None and all(isinstance(value, str) for value in values):
            return values
    return [text]


def _decode(payload: str) -> bytes:
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise RowRejected(REASON_CORRUPT_IMAGE, f"image cell is not valid base64 ({error})") from error


def _abbreviated(cell: str) -> str:
    return describe_payload(cell) if len(cell) > _LONG_CELL else cell


class _ImageResolver:
    """Turns a row's `image` / `image_path` cells into image references, following index reuse."""

    def __init__(self, image_by_index: dict[str, str]) -> None:
        self.image_by_index = image_by_index

    def images(self, row: dict[str, str], metadata: dict[str, Any]) -> list[ImageRef]:
        cell = row.get("image", "")
        if not cell.strip():
            if row.get("image_path", "").strip():
                return [LocalImage(row["image_path"])]
            raise RowRejected(REASON_NO_IMAGE, "empty 'image' and 'image_path' cells")
        references: list[ImageRef] = []
        for item in _image_cells(cell):
            payload = item
            if len(item.strip()) <= MAX_IMAGE_REFERENCE_LENGTH:
                payload = self.image_by_index.get(item.strip(), "")
                if len(payload.strip()) <= MAX_IMAGE_REFERENCE_LENGTH:
                    raise RowRejected(
                        REASON_IMAGE_NOT_FOUND, f"no row with index {item.strip()!r} holds an image"
                    )
                metadata.setdefault("image_from_index", []).append(item.strip())
            references.append(EmbeddedImage(_decode(payload)))
        return references


def _check_header(tsv_path: Path, header: list[str] | None) -> list[str]:
    if not header:
        raise ValueError(f"{tsv_path}: empty file, expected a VLMEvalKit TSV header")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if "image" not in header and "image_path" not in header:
        missing.append("image (or image_path)")
    if missing:
        raise ValueError(f"{tsv_path}: missing column(s) {missing}; found {header}")
    duplicated = sorted({column for column in header if header.count(column) > 1})
    if duplicated:
        raise ValueError(f"{tsv_path}: duplicated column(s) {duplicated}")
    return header


def read(
    path: Path,
    image_cache_dir: Path | None = None,
    *,
    pages: PagesMode = "all",
    encoding: str | None = None,
) -> ReadResult:
    """Reads the TSV at `path`; decoded images go to `image_cache_dir` (default `<tsv folder>/.images`).
    `encoding` overrides detection."""
    tsv_path = path
    # Every cell stays a string, and a row with the wrong number of cells (or an unbalanced quote) is
    # quarantined with its line number instead of polars padding it or swallowing the rows after it.
    decoded = read_text(tsv_path, encoding)
    text_lines = physical_lines(decoded.text)
    header = _check_header(tsv_path, header_cells(text_lines[0], "\t") if text_lines else None)
    all_rows = list(split_rows(text_lines[1:], "\t", len(header)))
    lines = [row for row in all_rows if not row.empty]

    cache_dir = image_cache_dir if image_cache_dir is not None else tsv_path.parent / DEFAULT_CACHE_FOLDER
    assembler = SampleAssembler(tsv_path.parent, cache_dir, pages)
    rows: list[tuple[str, dict[str, str]]] = []
    for row in lines:
        source_row = f"{tsv_path.name}:{row.line}"
        if row.cells is None:
            cells = row.text.split("\t")
            assembler.reject(
                source_row, REASON_MALFORMED, {"cells": [_abbreviated(cell) for cell in cells]}, row.problem
            )
            continue
        rows.append((source_row, dict(zip(header, row.cells, strict=True))))

    resolver = _ImageResolver({row["index"]: row.get("image", "") for _, row in rows})
    for source_row, row in rows:
        raw = {column: _abbreviated(value) for column, value in row.items()}
        options = {column: value for column, value in row.items() if _OPTION_COLUMN.match(column) and value}
        metadata: dict[str, Any] = {"index": row["index"]}
        if options:
            metadata["options"] = options
        if "image_path" in row:
            metadata["image_path"] = row["image_path"]
        for column, value in row.items():
            if column not in _MAPPED_COLUMNS and not _OPTION_COLUMN.match(column):
                metadata[column] = value
        try:
            images = resolver.images(row, metadata)
        except RowRejected as rejected:
            assembler.reject(source_row, rejected.reason, raw, rejected.detail)
            continue
        assembler.add(
            RowDraft(
                source_row=source_row,
                raw=raw,
                images=images,
                question=row["question"],
                answers=parse_answers(row["answer"]),
                doc_type=row.get("category", ""),
                field_name="",
                split=row.get("split", "") or DEFAULT_SPLIT,
                metadata=metadata,
            )
        )
    return with_text_notes(assembler.result(FORMAT, tsv_path), decoded, len(all_rows) - len(lines))
