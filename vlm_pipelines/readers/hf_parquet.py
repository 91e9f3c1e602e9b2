"""Parquet as Hugging Face `datasets` saves it: images as `{bytes: binary, path: str}` structs.

Columns: `image` (one struct) or `images` (a list of them), `question`, `answers` (list) or `answer`,
optional `doc_type` (or `category`), `field_name`, `split`, `metadata` (object or JSON string); any other
column goes to metadata. Image bytes are written, named by their sha256, to the image cache (default:
`.images` next to the file); a struct without bytes names a file relative to the Parquet's folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlm_pipelines.readers.normalize import (
    DEFAULT_SPLIT,
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

FORMAT = "hf_parquet"
DEFAULT_CACHE_FOLDER = ".images"
_MAPPED_COLUMNS = frozenset(
    {
        "image",
        "images",
        "question",
        "answers",
        "answer",
        "doc_type",
        "category",
        "field_name",
        "split",
        "metadata",
    }
)
_BATCH_ROWS = 256


def _without_payloads(value: Any) -> Any:
    """The value with every bytes object replaced by a short description (for raw rows and metadata)."""
    if isinstance(value, bytes | bytearray):
        return describe_payload(bytes(value))
    if isinstance(value, dict):
        return {key: _without_payloads(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_payloads(item) for item in value]
    return value


def _image_ref(value: Any) -> ImageRef:
    if isinstance(value, dict):
        if value.get("bytes"):
            return EmbeddedImage(bytes(value["bytes"]))
        if value.get("path"):
            return LocalImage(str(value["path"]))
        raise RowRejected(REASON_NO_IMAGE, "image struct has neither bytes nor path")
    if isinstance(value, bytes | bytearray) and value:
        return EmbeddedImage(bytes(value))
    if isinstance(value, str) and value:
        return LocalImage(value)
    raise RowRejected(REASON_NO_IMAGE, f"unusable image value of type {type(value).__name__}")


def _images(row: dict[str, Any]) -> list[ImageRef]:
    if row.get("images") is not None:
        if not isinstance(row["images"], list):
            raise RowRejected(REASON_MALFORMED, "'images' must be a list")
        return [_image_ref(item) for item in row["images"]]
    if row.get("image") is not None:
        return [_image_ref(row["image"])]
    return []


def _answers(row: dict[str, Any]) -> list[str]:
    value = row.get("answers", row.get("answer"))
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return [str(value)]


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("metadata")
    if value is None:
        metadata: dict[str, Any] = {}
    elif isinstance(value, dict):
        metadata = dict(value)
    elif isinstance(value, str):
        try:
            metadata = json.loads(value) if value.strip() else {}
        except ValueError as error:
            raise RowRejected(REASON_MALFORMED, f"'metadata' is not valid JSON ({error})") from error
        if not isinstance(metadata, dict):
            raise RowRejected(REASON_MALFORMED, "'metadata' must be a JSON object")
    else:
        raise RowRejected(REASON_MALFORMED, f"'metadata' must be an object, got {type(value).__name__}")
    for column, item in row.items():
        if column not in _MAPPED_COLUMNS:
            metadata[column] = _without_payloads(item)
    return metadata


def _text(row: dict[str, Any], *columns: str) -> str:
    for column in columns:
        if row.get(column) is not None:
            return str(row[column])
    return ""


def read(path: Path, image_cache_dir: Path | None = None, *, pages: PagesMode = "all") -> ReadResult:
    """Reads the Parquet file at `path`; image bytes go to `image_cache_dir` (default `<folder>/.images`)."""
    import pyarrow.parquet as pq  # lazy: only Parquet reads pay for importing pyarrow

    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{path}: not a readable Parquet file ({error})") from error
    columns = parquet.schema_arrow.names
    missing = []
    if "image" not in columns and "images" not in columns:
        missing.append("image (or images)")
    if "question" not in columns:
        missing.append("question")
    if "answers" not in columns and "answer" not in columns:
        missing.append("answers (or answer)")
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {columns}")

    cache_dir = image_cache_dir if image_cache_dir is not None else path.parent / DEFAULT_CACHE_FOLDER
    assembler = SampleAssembler(path.parent, cache_dir, pages)
    row_number = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
        for row in batch.to_pylist():
            row_number += 1
            source_row = f"{path.name}:{row_number}"
            raw = _without_payloads(row)
            try:
                draft = RowDraft(
                    source_row=source_row,
                    raw=raw,
                    images=_images(row),
                    question=_text(row, "question"),
                    answers=_answers(row),
                    doc_type=_text(row, "doc_type", "category"),
                    field_name=_text(row, "field_name"),
                    split=_text(row, "split") or DEFAULT_SPLIT,
                    metadata=_metadata(row),
                )
            except RowRejected as rejected:
                assembler.reject(source_row, rejected.reason, raw, rejected.detail)
                continue
            assembler.add(draft)
    return assembler.result(FORMAT, path)
