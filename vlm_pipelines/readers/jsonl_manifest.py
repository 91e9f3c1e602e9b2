"""JSONL manifest: one JSON object per line (what the synthetic generator writes).

    {"id"?: str, "images": [paths relative to the manifest folder], "question": str, "answers": [str],
     "doc_type": str, "field_name": str, "split": str, "metadata": {...}}

`image` (one path) is accepted for `images`, `answer` (one string) for `answers`. The optional `id`, and
any key not listed above, are kept in metadata. A record with no image must carry a non-empty `context`
(text the question is answered from, e.g. a chat question's retrieved passages): a text-only sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlm_pipelines.readers.delimited import physical_lines, read_text, with_text_notes
from vlm_pipelines.readers.normalize import (
    DEFAULT_SPLIT,
    REASON_MALFORMED,
    LocalImage,
    PagesMode,
    RowDraft,
    RowRejected,
    SampleAssembler,
)
from vlm_pipelines.schemas import ReadResult

FORMAT = "jsonl_manifest"
MANIFEST_FILE = "manifest.jsonl"
_KNOWN_KEYS = frozenset(
    {"id", "images", "image", "question", "answers", "answer", "doc_type", "field_name", "split", "metadata"}
)


def _string_list(record: dict[str, Any], plural: str, singular: str) -> list[str]:
    """`record[plural]` (a list of strings) or `[record[singular]]`; RowRejected when mistyped."""
    if plural in record:
        values = record[plural]
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise RowRejected(REASON_MALFORMED, f"'{plural}' must be a list of strings")
        return values
    if singular in record:
        value = record[singular]
        if not isinstance(value, str):
            raise RowRejected(REASON_MALFORMED, f"'{singular}' must be a string")
        return [value]
    return []


def _text(record: dict[str, Any], key: str, default: str = "") -> str:
    value = record.get(key, default)
    if not isinstance(value, str):
        raise RowRejected(REASON_MALFORMED, f"'{key}' must be a string, got {type(value).__name__}")
    return value


def _draft(source_row: str, record: dict[str, Any]) -> RowDraft:
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        raise RowRejected(REASON_MALFORMED, "'metadata' must be a JSON object")
    metadata = dict(metadata)
    if "id" in record:
        metadata["id"] = record["id"]
    for key, value in record.items():
        if key not in _KNOWN_KEYS:
            metadata[key] = value
    return RowDraft(
        source_row=source_row,
        raw=record,
        images=[LocalImage(path) for path in _string_list(record, "images", "image")],
        question=_text(record, "question"),
        answers=_string_list(record, "answers", "answer"),
        doc_type=_text(record, "doc_type"),
        field_name=_text(record, "field_name"),
        split=_text(record, "split", DEFAULT_SPLIT) or DEFAULT_SPLIT,
        metadata=metadata,
    )


def read(
    path: Path,
    image_cache_dir: Path | None = None,
    *,
    pages: PagesMode = "all",
    encoding: str | None = None,
) -> ReadResult:
    """Reads `path` (the .jsonl, or a folder holding `manifest.jsonl`). `image_cache_dir` receives the pages
    of multi-page images (`pages`: all of them, or the first). `encoding` overrides detection."""
    manifest = path / MANIFEST_FILE if path.is_dir() else path
    assembler = SampleAssembler(manifest.parent, image_cache_dir, pages)
    decoded = read_text(manifest, encoding)
    # One record per line: a bad line is quarantined with its number, the lines after it are read.
    skipped = 0  # blank lines
    for line_number, line in enumerate(physical_lines(decoded.text), start=1):
        if not line.strip():
            skipped += 1
            continue
        source_row = f"{manifest.name}:{line_number}"
        try:
            record = json.loads(line)
        except ValueError as error:
            assembler.reject(
                source_row, REASON_MALFORMED, {"line": line.rstrip("\n")}, f"invalid JSON: {error}"
            )
            continue
        if not isinstance(record, dict):
            assembler.reject(source_row, REASON_MALFORMED, {"line": line.rstrip("\n")}, "not a JSON object")
            continue
        try:
            draft = _draft(source_row, record)
        except RowRejected as rejected:
            assembler.reject(source_row, rejected.reason, record, rejected.detail)
            continue
        assembler.add(draft)
    return with_text_notes(assembler.result(FORMAT, manifest), decoded, skipped)
