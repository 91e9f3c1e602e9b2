"""Parquet as Hugging Face `datasets` saves it: images as `{bytes: binary, path: str}` structs.

Columns: `image` (one struct) or `images` (a list of them), `question`, `answers` (list) or `answer`
(a string or a list), or instead of both `qa_pairs` (MTVQA: all the image's {question, answer} pairs, one
sample each), optional `doc_type` (or `category`, OCRBench's `question_type`, MTVQA's `lang`), `field_name`,
`split` (or the `data_split` of lmms-lab's DocVQA/InfoVQA, or the `type` of lmms-lab's ChartQA:
human_test / augmented_test), `metadata` (object or JSON string); any other column goes to metadata.
A long `ocr` cell (InfoVQA's OCR JSON, tens of kilobytes a row) is kept in metadata as its length only.
A shard named as the hub names them (`validation-00000-of-00006.parquet`) stands for its whole split:
every shard of it is read, in order, and a missing one is a warning (the split is then partial).
Image bytes are written, named by their sha256, to the image cache (default: `.images` next to the
file); a struct without bytes names a file relative to the Parquet's folder.

The benchmark splits lmms-eval reads, as they are on the hub (their columns are read as above):
- lmms-lab/DocVQA (DocVQA, validation): questionId, question, question_types, image, docId,
  ucsf_document_id, ucsf_document_page_no, answers, data_split;
- lmms-lab/DocVQA (InfographicVQA, validation): questionId, question, answers, answer_type, image,
  image_url, operation/reasoning, ocr, data_split;
- lmms-lab/ChartQA (test): type, question, answer, image;
- echo840/OCRBench (test): dataset, question, question_type, answer (a list), image;
- lmms-lab/textvqa (validation): image_id, question_id, question, question_tokens, image, image_width,
  image_height, flickr_original_url, flickr_300k_url, answers (ten), image_classes, set_name, ocr_tokens.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
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
        "qa_pairs",
    }
)
_BATCH_ROWS = 256
_SHARD_NAME = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
# Columns whose long cells are bulky side data (OCR output), kept in metadata as a length only.
_BULKY_TEXT_COLUMNS = frozenset({"ocr"})
_MAX_KEPT_TEXT = 4096


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
        if column in _BULKY_TEXT_COLUMNS and isinstance(item, str) and len(item) > _MAX_KEPT_TEXT:
            metadata[column] = f"<text: {len(item)} characters, not kept>"
        elif column not in _MAPPED_COLUMNS:
            metadata[column] = _without_payloads(item)
    return metadata


def _text(row: dict[str, Any], *columns: str) -> str:
    for column in columns:
        if row.get(column) is not None:
            return str(row[column])
    return ""


def split_shards(path: Path) -> tuple[list[Path], list[str]]:
    """The shards of the split that `path` belongs to (itself when it is not named as a hub shard), and
    the names of those missing."""
    match = _SHARD_NAME.match(path.name)
    if match is None:
        return [path], []
    count = int(match["count"])
    names = [f"{match['split']}-{index:05d}-of-{count:05d}.parquet" for index in range(count)]
    present = [path.parent / name for name in names if (path.parent / name).is_file()]
    return present, [name for name in names if not (path.parent / name).is_file()]


def _open(path: Path) -> Any:
    import pyarrow.parquet as pq  # lazy: only Parquet reads pay for importing pyarrow

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{path}: not a readable Parquet file ({error})") from error


def read(path: Path, image_cache_dir: Path | None = None, *, pages: PagesMode = "all") -> ReadResult:
    """Reads the Parquet file at `path` (every shard of its split when it is a hub shard); image bytes go
    to `image_cache_dir` (default `<folder>/.images`)."""
    shards, missing_shards = split_shards(path)
    parquet = _open(path)
    columns = parquet.schema_arrow.names
    missing = []
    if "image" not in columns and "images" not in columns:
        missing.append("image (or images)")
    if "question" not in columns and "qa_pairs" not in columns:
        missing.append("question (or qa_pairs)")
    if "answers" not in columns and "answer" not in columns and "qa_pairs" not in columns:
        missing.append("answers (or answer, or qa_pairs)")
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {columns}")

    cache_dir = image_cache_dir if image_cache_dir is not None else path.parent / DEFAULT_CACHE_FOLDER
    assembler = SampleAssembler(path.parent, cache_dir, pages)
    for shard in shards:
        _read_rows(shard, parquet if shard == path else _open(shard), assembler)
    result = assembler.result(FORMAT, path)
    if missing_shards:
        warning = f"{len(missing_shards)} of {len(shards) + len(missing_shards)} shards missing: {', '.join(missing_shards)}"
        return dataclasses.replace(result, warnings=(*result.warnings, warning))
    return result


def _questions(row: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(source row suffix, row) per question: one for a row with its question, one per pair of a row that
    holds all its image's questions in `qa_pairs` (MTVQA: a list of {question, answer}, as a Python literal or
    JSON), each with the pair's position in its metadata."""
    pairs = row.get("qa_pairs")
    if pairs is None:
        return [("", row)]
    if isinstance(pairs, str):
        try:
            pairs = ast.literal_eval(pairs)
        except (ValueError, SyntaxError) as error:
            raise RowRejected(REASON_MALFORMED, f"'qa_pairs' is not a list literal ({error})") from error
    if not isinstance(pairs, list) or not all(
        isinstance(pair, dict) and "question" in pair for pair in pairs
    ):
        raise RowRejected(REASON_MALFORMED, "'qa_pairs' must be a list of {question, answer} objects")
    return [
        (f"#{number}", {**row, "question": pair["question"], "answer": pair.get("answer"), "qa_pair": number})
        for number, pair in enumerate(pairs, start=1)
    ]


def _read_rows(path: Path, parquet: Any, assembler: SampleAssembler) -> None:
    row_number = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
        for whole_row in batch.to_pylist():
            row_number += 1
            raw = _without_payloads(whole_row)
            try:
                questions = _questions(whole_row)
            except RowRejected as rejected:
                assembler.reject(f"{path.name}:{row_number}", rejected.reason, raw, rejected.detail)
                continue
            for suffix, row in questions:
                source_row = f"{path.name}:{row_number}{suffix}"
                try:
                    draft = RowDraft(
                        source_row=source_row,
                        raw=raw,
                        images=_images(row),
                        question=_text(row, "question"),
                        answers=_answers(row),
                        doc_type=_text(row, "doc_type", "category", "question_type", "lang"),
                        field_name=_text(row, "field_name"),
                        split=_text(row, "split", "data_split", "type") or DEFAULT_SPLIT,
                        metadata=_metadata(row),
                    )
                except RowRejected as rejected:
                    assembler.reject(source_row, rejected.reason, raw, rejected.detail)
                    continue
                assembler.add(draft)
