"""Sanity check that the rendering is legible: Tesseract reads most field values of a clean invoice."""

from __future__ import annotations

import re

import pytesseract  # a dependency of model-ocr; the tesseract binary is what `requires` checks
import pytest

from vlm_pipelines.synthetic import generate_documents
from vlm_pipelines.synthetic.documents import doc_type_at


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.mark.requires("tesseract")
def test_tesseract_reads_most_values_of_a_clean_english_invoice(monkeypatch):
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    seed = next(seed for seed in range(2024, 2100) if doc_type_at(seed, 0) == "invoice")
    [invoice] = generate_documents("en", 1, seed=seed)
    assert invoice.doc_type == "invoice"

    text = normalise(pytesseract.image_to_string(invoice.pages[0], lang="eng", config="--psm 4"))

    found = [key for key, value in invoice.fields.items() if normalise(value) in text]
    missing = {key: value for key, value in invoice.fields.items() if key not in found}
    assert len(found) >= 0.8 * len(invoice.fields), f"OCR missed {missing}; read: {text[:600]}"
