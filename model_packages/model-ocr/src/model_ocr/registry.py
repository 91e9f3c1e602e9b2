"""The model ids this package registers (entry point `vlmbench.models`). Cheap: nothing is loaded."""

from __future__ import annotations

from model_interface import Availability, ModelSpec, Resolution, get_spec, package_version
from pydantic import BaseModel

from model_ocr.adapter import PACKAGE, READER_MODEL_ID, OCRParams, OCRPipelineModel
from model_ocr.engines import (
    engine_languages,
    engine_limitations,
    engine_problem,
    engine_version,
    resolve_engine,
)


def model_specs() -> list[ModelSpec]:
    return [
        ModelSpec(
            model_id="ocr-rules",
            package=PACKAGE,
            description=(
                "CPU baseline, no neural answerer: OCR (Tesseract rus+eng when installed, else RapidOCR, "
                "Latin only), then the value next to the label the question (or hint field_name) names, "
                "found by fuzzy label matching; '' when no label is found."
            ),
            params_model=OCRParams,
            factory=lambda model_id, params: OCRPipelineModel(
                model_id, package_version(PACKAGE), params, "rules"
            ),
            check=_check_engine,
            resolve=resolve_ocr,
        ),
        ModelSpec(
            model_id="ocr-smollm2",
            package=PACKAGE,
            description=(
                "CPU baseline: OCR (Tesseract rus+eng when installed, else RapidOCR), then SmolLM2-135M-Instruct "
                "(smollm2-135m, model-hf) answers the question from the OCR text, greedy, first line only."
            ),
            params_model=OCRParams,
            factory=lambda model_id, params: OCRPipelineModel(
                model_id, package_version(PACKAGE), params, "reader"
            ),
            check=_check_reader,
            resolve=resolve_ocr_with_reader,
            uses_packages=("model-hf",),
        ),
    ]


def _check_engine(params: BaseModel) -> Availability:
    assert isinstance(params, OCRParams)
    problem = engine_problem(params.engine, params.languages)
    return Availability(not problem, problem)


def _check_reader(params: BaseModel) -> Availability:
    engine = _check_engine(params)
    if not engine.ok:
        return engine
    try:
        reader = get_spec(READER_MODEL_ID).availability()
    except KeyError:
        return Availability(False, f"{READER_MODEL_ID} is not registered: install model-hf")
    return reader if reader.ok else Availability(False, f"{READER_MODEL_ID}: {reader.reason}")


def resolve_ocr(params: BaseModel) -> Resolution:
    """The OCR engine `auto` picks here, its version and what it reads."""
    assert isinstance(params, OCRParams)
    engine = resolve_engine(params.engine, params.languages)
    return Resolution(
        settings={
            "ocr_engine": engine,
            "ocr_engine_version": engine_version(engine),
            "ocr_languages": engine_languages(engine, params.languages),
        },
        limitations=engine_limitations(engine, params.languages),
    )


def resolve_ocr_with_reader(params: BaseModel) -> Resolution:
    """The OCR resolution plus the reader model's: its package version and what its own `auto` becomes."""
    ocr = resolve_ocr(params)
    try:
        reader = get_spec(READER_MODEL_ID)
    except KeyError:
        return ocr
    settings = {
        **ocr.settings,
        "reader": READER_MODEL_ID,
    }  # its package version is in the key (uses_packages)
    settings |= {f"reader_{key}": value for key, value in reader.resolution().settings.items()}
    return Resolution(settings=settings, limitations=ocr.limitations + reader.resolution().limitations)
