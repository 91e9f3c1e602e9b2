"""MTVQA's scoring rule: a prediction is correct when it *contains* the reference answer.

Reference: VLMEvalKit's `MTVQADataset.evaluate` (`vlmeval/dataset/image_vqa.py`, later
`vlmeval/dataset/mtvqa.py`) and lmms-eval's `mtvqa_process_results` (`lmms_eval/tasks/mtvqa/utils.py`):
both strings are stripped, lowercased and lose every ".", then the test is `answer in prediction`.
Python's `str.lower` lowercases Cyrillic, so "МОСКВА" contains "москва". ByteDance's own
`scripts/acc.py` removes "." from the prediction only, so an answer with a "." ("12.5") never matches
there; VLMEvalKit and lmms-eval remove it from both, as here. Newer VLMEvalKit releases ask an LLM judge
about the pairs this rule rejects: that figure is this one or higher.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlm_pipelines.metrics.registry import Metric, as_reference_list


def _normalized(text: str) -> str:
    return text.strip().lower().replace(".", "")


def mtvqa_accuracy(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 if any normalised reference is a substring of the normalised prediction, else 0.0."""
    predicted = _normalized(prediction)
    return float(any(_normalized(ref) in predicted for ref in as_reference_list(references)))


MTVQA_ACCURACY = Metric(
    name="mtvqa_accuracy",
    description="MTVQA: 1 if the reference (stripped, lowercased, '.' removed) is a substring of the prediction.",
    higher_is_better=True,
    score_fn=mtvqa_accuracy,
    worst_value=0.0,
)
