"""Per-image JSON ground truth (the later VLMHyperBench format), one sample per field.

    <dataset>/jsons/N.json      {"fields": {name: {"value": str, "bboxes": [[x1, y1, x2, y2], ...]}}, "index": N}
    <dataset>/images/[<split>/]N.jpg

The image is found by stem anywhere under `images/`; its sub-folder (e.g. `clean`, `blur`) is the split,
and one JSON annotates every variant of the same stem.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vlm_pipelines.readers.delimited import TextFile, read_text, with_text_notes
from vlm_pipelines.readers.normalize import (
    DEFAULT_SPLIT,
    REASON_IMAGE_NOT_FOUND,
    REASON_MALFORMED,
    LocalImage,
    PagesMode,
    RowDraft,
    SampleAssembler,
)
from vlm_pipelines.schemas import ReadResult

FORMAT = "json_fields"
JSON_FOLDER = "jsons"
IMAGE_FOLDER = "images"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def default_question(field_name: str) -> str:
    """The question asked for a field: Russian for Cyrillic field names, as the original tool did."""
    return f"Напиши {field_name}" if _CYRILLIC.search(field_name) else f"What is the {field_name}?"


def doc_type_from_folder(folder: Path) -> str:
    """`snils_json` -> `snils`: the folder name without a trailing `_json`."""
    return folder.name.removesuffix("_json")


def _natural_key(path: Path) -> tuple[int, int, str]:
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def _images_by_stem(images_dir: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    if images_dir.is_dir():
        for image in sorted(images_dir.rglob("*")):
            if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES:
                found.setdefault(image.stem, []).append(image)
    return found


def _answer(entry: Any) -> tuple[list[str], dict[str, Any]]:
    """(answers, extra metadata) from a field entry: {"value": ..., "bboxes": ...} or a bare value."""
    if not isinstance(entry, dict):
        entry = {"value": entry}
    value = entry.get("value")
    answers = [] if value is None else [value if isinstance(value, str) else json.dumps(value)]
    return answers, {key: item for key, item in entry.items() if key != "value"}


def _file_encodings(decoded: list[TextFile]) -> TextFile:
    """What the JSON files' decoding found, as one TextFile (no text): their encoding(s), the lowest
    confidence, every warning."""
    names = sorted({item.encoding for item in decoded})
    return TextFile(
        "",
        ", ".join(names) if names else "utf-8",
        min((item.confidence for item in decoded), default=1.0),
        tuple(warning for item in decoded for warning in item.warnings),
    )


def read(
    path: Path,
    image_cache_dir: Path | None = None,
    *,
    doc_type: str | None = None,
    pages: PagesMode = "all",
    encoding: str | None = None,
) -> ReadResult:
    """Reads the dataset folder `path`. `doc_type` defaults to the folder name (see doc_type_from_folder).
    Each JSON file is decoded as `encoding`, or as detected (UTF-8, a Cyrillic code page, ...)."""
    root = path
    json_dir = root / JSON_FOLDER
    if not json_dir.is_dir():
        raise ValueError(f"{root}: no '{JSON_FOLDER}/' folder, so this is not a json_fields dataset")
    doc_type = doc_type if doc_type is not None else doc_type_from_folder(root)
    images = _images_by_stem(root / IMAGE_FOLDER)
    assembler = SampleAssembler(root, image_cache_dir, pages)
    decoded: list[TextFile] = []
    for json_path in sorted(json_dir.glob("*.json"), key=_natural_key):
        relative = f"{JSON_FOLDER}/{json_path.name}"
        try:
            file = read_text(json_path, encoding)
        except ValueError as error:
            assembler.reject(relative, REASON_MALFORMED, {"file": relative}, str(error))
            continue
        decoded.append(file)
        text = file.text
        try:
            document = json.loads(text)
        except ValueError as error:
            assembler.reject(
                relative, REASON_MALFORMED, {"file": relative, "text": text}, f"invalid JSON: {error}"
            )
            continue
        fields = document.get("fields") if isinstance(document, dict) else None
        if not isinstance(fields, dict):
            assembler.reject(
                relative, REASON_MALFORMED, {"file": relative, "text": text}, "no 'fields' object in the JSON"
            )
            continue
        document_metadata = {key: value for key, value in document.items() if key != "fields"}
        variants = images.get(json_path.stem, [])
        for name, entry in fields.items():
            source_row = f"{relative}:{name}"
            raw = {"file": relative, "field": name, "entry": entry}
            if not variants:
                assembler.reject(
                    source_row,
                    REASON_IMAGE_NOT_FOUND,
                    raw,
                    f"no image named {json_path.stem}.* under {IMAGE_FOLDER}/",
                )
                continue
            answers, field_metadata = _answer(entry)  # no value -> [] -> quarantined as "empty answer"
            for image in variants:
                subfolder = image.parent.relative_to(root / IMAGE_FOLDER).as_posix()
                assembler.add(
                    RowDraft(
                        source_row=source_row,
                        raw=raw,
                        images=[LocalImage(image.relative_to(root).as_posix())],
                        question=default_question(name),
                        answers=answers,
                        doc_type=doc_type,
                        field_name=name,
                        split=DEFAULT_SPLIT if subfolder == "." else subfolder,
                        metadata={**document_metadata, **field_metadata},
                    )
                )
    return with_text_notes(assembler.result(FORMAT, root), _file_encodings(decoded))
