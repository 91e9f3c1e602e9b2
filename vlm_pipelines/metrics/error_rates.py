"""Character and word error rates with jiwer's definitions, per sample.

``rate = (substitutions + deletions + insertions) / reference length`` after jiwer's default
transforms (CER: strip; WER: strip, collapse spaces, split on spaces). Lower is better; the rate is not
capped, so a long hallucinated prediction can score above 1. With several references the best
(lowest) rate counts.

Edge cases, decided here because jiwer leaves them open (jiwer 3 raises on an empty reference, jiwer 4
returns the bare insertion count):
- empty prediction, non-empty reference: 1.0 (every reference unit deleted), as jiwer computes it;
- empty (or whitespace-only) reference: 0.0 if the prediction is empty too, else 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jiwer

from vlm_pipelines.metrics.registry import Metric, as_reference_list


def _rate_with_empty_rule(measure: Callable[[str, str], float], prediction: str, reference: str) -> float:
    if not reference.strip():  # jiwer's transforms leave nothing to divide by
        return 0.0 if not prediction.strip() else 1.0
    return float(measure(reference, prediction))


def character_error_rate(prediction: str, reference: str) -> float:
    """jiwer CER of one prediction against one reference."""
    return _rate_with_empty_rule(jiwer.cer, prediction, reference)


def word_error_rate(prediction: str, reference: str) -> float:
    """jiwer WER of one prediction against one reference."""
    return _rate_with_empty_rule(jiwer.wer, prediction, reference)


def cer(prediction: str, references: str | Sequence[str]) -> float:
    """Lowest CER over the references."""
    return min(character_error_rate(prediction, ref) for ref in as_reference_list(references))


def wer(prediction: str, references: str | Sequence[str]) -> float:
    """Lowest WER over the references."""
    return min(word_error_rate(prediction, ref) for ref in as_reference_list(references))


CER = Metric(
    name="cer",
    description="Character error rate (jiwer), lowest over references; lower is better.",
    higher_is_better=False,
    score_fn=cer,
    worst_value=1.0,
)
WER = Metric(
    name="wer",
    description="Word error rate (jiwer), lowest over references; lower is better.",
    higher_is_better=False,
    score_fn=wer,
    worst_value=1.0,
)
