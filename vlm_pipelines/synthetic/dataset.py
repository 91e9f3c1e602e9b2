"""Task datasets (images + manifest.jsonl) built from the seeded synthetic documents.

All four variants are views of the same documents: the same seed and language give the same documents,
whichever variant is asked for.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vlm_pipelines.synthetic.degradations import (
    Degraded,
    check_degradations,
    degrade,
    rotate_box,
)
from vlm_pipelines.synthetic.documents import SyntheticDocument, check_language, generate_documents
from vlm_pipelines.synthetic.fields import DOC_TYPES, FIELDS
from vlm_pipelines.synthetic.fonts import available_families
from vlm_pipelines.synthetic.seeds import numpy_rng, python_rng

VARIANTS = ("field_vqa", "json_extraction", "classification", "page_order")
GENERATOR_VERSION = 2  # bump when the rendering or the manifest changes, so cached datasets are rebuilt
SPLIT = "synthetic"
PNG_OPTIONS = {"format": "PNG", "compress_level": 1, "optimize": False}  # level 1: fast on noisy pages

CLASSIFICATION_QUESTION = {
    "en": "What type of document is this? Answer with one of: invoice, form, receipt.",
    "ru": "Какой это тип документа? Ответьте одним из вариантов: invoice, form, receipt.",
}


def json_extraction_question(doc_type: str, language: str) -> str:
    keys = ", ".join(f"{spec.key} ({spec.label(language)})" for spec in FIELDS[doc_type])
    if language == "ru":
        return (
            "Извлеките из документа следующие поля и ответьте только JSON-объектом ровно с этими ключами: "
            f"{keys}. Значения переписывайте точно так, как они напечатаны в документе."
        )
    return (
        "Extract the following fields from this document and answer with only a JSON object with exactly "
        f"these keys: {keys}. Copy each value exactly as it is printed in the document."
    )


def page_order_question(n_pages: int, language: str) -> str:
    if language == "ru":
        return (
            f"Эти {n_pages} изображения — страницы одного документа в перемешанном порядке. Восстановите "
            "правильный порядок: ответьте JSON-списком индексов изображений (с нуля), первым — индекс "
            "изображения с первой страницей, затем со второй и так далее."
        )
    return (
        f"These {n_pages} images are the pages of one document in a shuffled order. Give the correct reading "
        "order as a JSON list of the 0-based image indices: first the index of the image that shows page one, "
        "then page two, and so on."
    )


def _check(variant: str, language: str, n_documents: int, degradations: Sequence[str]) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; valid: {list(VARIANTS)}")
    check_language(language)
    if isinstance(degradations, str):
        raise ValueError(f"degradations must be a sequence of names, not the string {degradations!r}")
    check_degradations(list(degradations))
    if n_documents < 1:
        raise ValueError(f"n_documents must be >= 1, got {n_documents}")


def _shuffled_order(n_pages: int, seed: int, document_id: str) -> list[int]:
    """A seeded permutation of the pages that is never the identity."""
    rng = python_rng(seed, document_id, "page-order")
    order = list(range(n_pages))
    while order == sorted(order):
        rng.shuffle(order)
    return order


def _save_png(image: Image.Image, path: Path) -> None:
    image.save(path, **PNG_OPTIONS)  # no pnginfo, no timestamps: same pixels give the same bytes


def _rows_for_document(
    variant: str,
    document: SyntheticDocument,
    images: list[str],
    metadata: dict[str, Any],
    correct_order: list[int] | None,
) -> list[dict[str, Any]]:
    language, doc_type = document.language, document.doc_type
    base = {"images": images, "doc_type": doc_type, "split": SPLIT}
    if variant == "field_vqa":
        rows = []
        for spec in FIELDS[doc_type]:
            value = document.fields[spec.key]
            answers = document.alternatives.get(spec.key, [value])
            assert answers[0] == value, (spec.key, answers, value)
            bboxes = {spec.key: metadata["bboxes"][spec.key]} if spec.key in metadata["bboxes"] else {}
            rows.append(
                {
                    "id": f"{document.doc_id}-{spec.key}",
                    **base,
                    "question": spec.question(language),
                    "answers": answers,
                    "field_name": spec.key,
                    "metadata": {**metadata, "bboxes": bboxes, "field_label": spec.label(language)},
                }
            )
        return rows
    if variant == "json_extraction":
        schema = [spec.key for spec in FIELDS[doc_type]]
        answer = json.dumps({key: document.fields[key] for key in schema}, ensure_ascii=False, sort_keys=True)
        return [
            {
                "id": f"{document.doc_id}-json",
                **base,
                "question": json_extraction_question(doc_type, language),
                "answers": [answer],
                "field_name": "__all__",
                # the printed label of each key, as the question names it: "invoice_number (Invoice No.)"
                "metadata": {
                    **metadata,
                    "schema": schema,
                    "field_labels": {spec.key: spec.label(language) for spec in FIELDS[doc_type]},
                },
            }
        ]
    if variant == "classification":
        return [
            {
                "id": f"{document.doc_id}-class",
                **base,
                "question": CLASSIFICATION_QUESTION[language],
                "answers": [doc_type],
                "field_name": "__class__",
                "metadata": {**metadata, "labels": list(DOC_TYPES)},
            }
        ]
    assert correct_order is not None
    return [
        {
            "id": f"{document.doc_id}-pages",
            **base,
            "question": page_order_question(len(images), language),
            "answers": [json.dumps(correct_order)],
            "field_name": "__page_order__",
            # bboxes are on the document's first page, shown as images[correct_order[0]]
            "metadata": {**metadata, "n_pages": len(images), "bboxes_image_index": correct_order[0]},
        }
    ]


def generate_task_dataset(
    *,
    variant: str,
    language: str,
    n_documents: int,
    seed: int,
    degradations: Sequence[str] = (),
    out_dir: Path,
) -> Path:
    """Write ``out_dir/images/*.png``, ``out_dir/manifest.jsonl`` and ``out_dir/params.json``; return out_dir.

    Document ``i`` gets degradation ``degradations[i % len(degradations)]`` ("none" when the list is
    empty); its strength is seeded. A second call with the same parameters returns at once (cache).
    """
    _check(variant, language, n_documents, degradations)
    out_dir = Path(out_dir)
    manifest_path, params_path, images_dir = (
        out_dir / "manifest.jsonl",
        out_dir / "params.json",
        out_dir / "images",
    )
    params = {
        "generator_version": GENERATOR_VERSION,
        "variant": variant,
        "language": language,
        "n_documents": n_documents,
        "seed": seed,
        "degradations": list(degradations),
        "fonts": sorted(available_families()),  # other fonts give other pixels
    }
    if manifest_path.exists() and params_path.exists():
        try:
            if json.loads(params_path.read_text(encoding="utf-8")) == params:
                return out_dir
        except json.JSONDecodeError:
            pass
    # stale or partial output: start clean (only the files this function owns)
    manifest_path.unlink(missing_ok=True)
    if images_dir.exists():
        shutil.rmtree(images_dir)
    images_dir.mkdir(parents=True)

    documents = generate_documents(language, n_documents, seed, multipage=variant == "page_order")
    rows: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        degradation = degradations[index % len(degradations)] if degradations else "none"
        degradation_rng = numpy_rng(seed, language, index, "degradation", degradation)
        degraded: list[Degraded] = [degrade(page, degradation, degradation_rng) for page in document.pages]
        first = degraded[0]
        bboxes = {
            key: list(rotate_box(box, first.angle, document.pages[0].size))
            for key, box in document.field_bboxes.items()
        }
        correct_order = None
        if variant == "page_order":
            shown = _shuffled_order(len(degraded), seed, document.doc_id)
            images = []
            for position, page_index in enumerate(shown):
                relative = f"images/{document.doc_id}_{position}.png"
                _save_png(degraded[page_index].image, out_dir / relative)
                images.append(relative)
            correct_order = [shown.index(page_index) for page_index in range(len(degraded))]
        else:
            relative = f"images/{document.doc_id}.png"
            _save_png(first.image, out_dir / relative)
            images = [relative]
        metadata = {
            "language": language,
            "degradation": degradation,
            "degradation_params": first.params,
            "document_id": document.doc_id,
            "seed": seed,
            "bboxes": bboxes,
            "variant": variant,
            "style": document.style,
            "image_size": list(first.image.size),
        }
        rows += _rows_for_document(variant, document, images, metadata, correct_order)

    params_path.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial = manifest_path.with_suffix(".jsonl.partial")
    with partial.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    partial.replace(manifest_path)  # the manifest appears last, so a crash never leaves a valid cache
    return out_dir
