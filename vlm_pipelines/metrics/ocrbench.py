"""OCRBench's scoring rule: a prediction is correct when it *contains* any reference.

Both strings are lowercased, stripped, and newlines become spaces, then the test is a substring test.
For the handwritten-formula subset (HME100k) OCRBench uses another variant: spaces and newlines are
removed and case is kept; call ``ocrbench(..., formula=True)`` for it.

As in OCRBench, an empty reference is contained in every prediction, so it always scores 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlm_pipelines.metrics.registry import Metric, as_reference_list


def _general_form(text: str) -> str:
    return text.lower().strip().replace("\n", " ")


def _formula_form(text: str) -> str:
    return text.strip().replace("\n", " ").replace(" ", "")


def ocrbench(prediction: str, references: str | Sequence[str], formula: bool = False) -> float:
    """1.0 if any normalised reference is a substring of the normalised prediction, else 0.0."""
    normalize = _formula_form if formula else _general_form
    predicted = normalize(prediction)
    return float(any(normalize(ref) in predicted for ref in as_reference_list(references)))


OCRBENCH = Metric(
    name="ocrbench",
    description="OCRBench: 1 if any reference (lowercased, stripped) is a substring of the prediction.",
    higher_is_better=True,
    score_fn=ocrbench,
    worst_value=0.0,
)
