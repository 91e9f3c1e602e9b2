"""VLMHyperBench v0.1 annotation CSV: `;`-separated (UTF-8 with a BOM, or cp1251 and the like, detected or
given), one row per (image, field). A malformed row is quarantined with its line number; empty rows
(Excel's `;;;;;;;`) are skipped and counted; `"Шашков" РАО` is text (see `delimited`).

Columns: data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox.
`image_path` is relative to the CSV's folder; `doc_class` becomes doc_type, `question_type` field_name.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlm_pipelines.readers.delimited import (
    header_cells,
    physical_lines,
    read_text,
    split_rows,
    with_text_notes,
)
from vlm_pipelines.readers.normalize import (
    REASON_MALFORMED,
    LocalImage,
    PagesMode,
    RowDraft,
    SampleAssembler,
)
from vlm_pipelines.schemas import ReadResult

FORMAT = "vlmhyperbench_csv"
ANNOTATION_FILE = "annotation.csv"
COLUMNS: tuple[str, ...] = (
    "data_index",
    "split",
    "image_path",
    "question",
    "answer",
    "doc_class",
    "question_type",
    "answer_bbox",
)


def has_header(csv_path: Path) -> bool:
    """True when the file's first line is the v0.1 header (with or without a BOM, in any encoding)."""
    try:
        lines = physical_lines(read_text(csv_path).text)
    except (OSError, ValueError):
        return False
    return bool(lines) and tuple(header_cells(lines[0], ";")) == COLUMNS


def _parse_bbox(text: str) -> dict[str, object]:
    if not text.strip():
        return {}
    try:
        bbox = json.loads(text)
    except ValueError:
        return {"bbox_unparsed": text}
    return {"bbox": bbox}


def read(
    path: Path,
    image_cache_dir: Path | None = None,
    *,
    pages: PagesMode = "all",
    encoding: str | None = None,
) -> ReadResult:
    """Reads `path` (the CSV, or a folder holding `annotation.csv`). `image_cache_dir` receives the pages of
    multi-page images (`pages`: all of them, or the first). `encoding` overrides detection."""
    csv_path = path / ANNOTATION_FILE if path.is_dir() else path
    decoded = read_text(csv_path, encoding)
    lines = physical_lines(decoded.text)
    header = header_cells(lines[0], ";") if lines else []
    if tuple(header) != COLUMNS:
        raise ValueError(
            f"{csv_path}: first line {lines[0][:200] if lines else ''!r} is not the VLMHyperBench v0.1 header "
            f"{';'.join(COLUMNS)!r}"
        )
    assembler = SampleAssembler(csv_path.parent, image_cache_dir, pages)
    skipped = 0
    for row in split_rows(lines[1:], ";", len(COLUMNS)):
        source_row = f"{csv_path.name}:{row.line}"
        if row.empty:
            skipped += 1
            continue
        if row.cells is None:
            assembler.reject(source_row, REASON_MALFORMED, {"line": row.text}, row.problem)
            continue
        cells = dict(zip(COLUMNS, row.cells, strict=True))
        assembler.add(
            RowDraft(
                source_row=source_row,
                raw=cells,
                images=[LocalImage(cells["image_path"])],
                question=cells["question"],
                answers=[cells["answer"]],
                doc_type=cells["doc_class"],
                field_name=cells["question_type"],
                split=cells["split"],
                metadata={"data_index": cells["data_index"], **_parse_bbox(cells["answer_bbox"])},
            )
        )
    return with_text_notes(assembler.result(FORMAT, csv_path), decoded, skipped)
