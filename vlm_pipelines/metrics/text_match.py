"""Exact match after light normalisation: strip, casefold, collapse whitespace."""

from __future__ import annotations

from collections.abc import Sequence

from vlm_pipelines.metrics.registry import Metric, as_reference_list


def normalize_text(text: str) -> str:
    """Casefold and collapse every run of whitespace to one space (leading/trailing removed)."""
    return " ".join(text.casefold().split())


def exact_match(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised reference, else 0.0."""
    predicted = normalize_text(prediction)
    return float(any(predicted == normalize_text(ref) for ref in as_reference_list(references)))


EXACT_MATCH = Metric(
    name="exact_match",
    description="1 if prediction equals a reference after strip, casefold and whitespace collapse.",
    higher_is_better=True,
    score_fn=exact_match,
    worst_value=0.0,
)
