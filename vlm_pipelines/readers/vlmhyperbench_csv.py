"""VLMHyperBench v0.1 annotation CSV: `;`-separated (UTF-8 with a BOM, or cp1251 and the like, detected),
one row per (image, field). A malformed row is quarantined with its line number (see `delimited`).

Columns: data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox.
`image_path` is relative to the CSV's folder; `doc_class` becomes doc_type, `question_type` field_name.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlm_pipelines.readers.delimited import header_cells, physical_lines, read_text, split_rows
from vlm_pipelines.readers.normalize import (
    REASON_MALFORMED,
    LocalImage,
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


def read(path: Path, image_cache_dir: Path | None = None) -> ReadResult:
    """Reads `path` (the CSV, or a folder holding `annotation.csv`). `image_cache_dir` is unused."""
    csv_path = path / ANNOTATION_FILE if path.is_dir() else path
    decoded = read_text(csv_path)
    lines = physical_lines(decoded.text)
    header = header_cells(lines[0], ";") if lines else []
    if tuple(header) != COLUMNS:
        raise ValueError(
            f"{csv_path}: first line {lines[0][:200] if lines else ''!r} is not the VLMHyperBench v0.1 header "
            f"{';'.join(COLUMNS)!r}"
        )
    assembler = SampleAssembler(csv_path.parent)
    for row in split_rows(lines[1:], ";", len(COLUMNS)):
        source_row = f"{csv_path.name}:{row.line}"
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
    return assembler.result(FORMAT, csv_path, encoding=decoded.encoding)
