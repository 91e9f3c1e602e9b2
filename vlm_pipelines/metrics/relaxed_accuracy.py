"""ChartQA relaxed accuracy, as in pix2struct's ``relaxed_correctness``.

If both strings parse as floats (``float()``; a trailing "%" parses and divides by 100) and the target
is non-zero, the prediction is correct when ``|prediction - target| / |target| <= 0.05``. Otherwise
the strings must be equal ignoring case (``prediction.lower() == target.lower()``; no stripping, as
in pix2struct: answer extraction and trimming belong to the task's output filters).

The "%" rule means "12.5%" (0.125) is *not* correct for the target "12.5" (12.5), although many
re-implementations that strip "%" would accept it.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlm_pipelines.metrics.registry import Metric, as_reference_list

MAX_RELATIVE_CHANGE = 0.05


def to_float(text: str) -> float | None:
    """pix2struct's ``_to_float``: a float, a percentage divided by 100, or None."""
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(
    target: str, prediction: str, max_relative_change: float = MAX_RELATIVE_CHANGE
) -> bool:
    """True when `prediction` is within the relative tolerance of `target` (or equal ignoring case)."""
    prediction_float = to_float(prediction)
    target_float = to_float(target)
    if prediction_float is not None and target_float:  # a zero target falls back to string equality
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def relaxed_accuracy(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 when the prediction is relaxed-correct for any reference, else 0.0."""
    return float(any(relaxed_correctness(ref, prediction) for ref in as_reference_list(references)))


RELAXED_ACCURACY = Metric(
    name="relaxed_accuracy",
    description="ChartQA/pix2struct: numbers within 5% relative error (x% = x/100), else case-insensitive equality.",
    higher_is_better=True,
    score_fn=relaxed_accuracy,
    worst_value=0.0,
)
