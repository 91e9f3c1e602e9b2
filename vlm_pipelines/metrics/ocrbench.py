"""OCRBench's scoring rule: a prediction is correct when it *contains* any reference.

Reference: OCRBench's official evaluation (github.com/Yuliang-Liu/MultimodalOCR, `OCRBench/scripts`), the
same in VLMEvalKit (`vlmeval/dataset/utils/ocrbench.py`) and lmms-eval (`lmms_eval/tasks/ocrbench/utils.py`).
Both strings are lowercased, stripped, and newlines become spaces, then the test is a substring test.
For the "Handwritten Mathematical Expression Recognition" category (HME100k) OCRBench uses another rule:
spaces and newlines are removed and case is kept. A task selects it by naming the metric
``ocrbench_formula`` instead of ``ocrbench`` (``ocrbench(..., formula=True)`` in code). The `ocrbench`
task scores every sample with both and `ocrbench_category_scores` takes, per sample, the one its category
calls for: the official score out of 1000 (lmms-eval tells the category by `dataset == "HME100k"`,
VLMEvalKit by the category name; they are the same 100 samples).

As in OCRBench, an empty reference is contained in every prediction, so it always scores 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

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


HME_CATEGORY = "Handwritten Mathematical Expression Recognition"
# OCRBench v1's categories and how many of its 1000 samples each has.
CATEGORY_SIZES: dict[str, int] = {
    "Regular Text Recognition": 50,
    "Irregular Text Recognition": 50,
    "Artistic Text Recognition": 50,
    "Handwriting Recognition": 50,
    "Digit String Recognition": 50,
    "Non-Semantic Text Recognition": 50,
    "Scene Text-centric VQA": 200,
    "Doc-oriented VQA": 200,
    "Key Information Extraction": 200,
    HME_CATEGORY: 100,
}


def ocrbench_category_scores(
    categories: Sequence[str], general: Sequence[float], formula: Sequence[float]
) -> dict[str, float]:
    """Correct answers per category, each sample scored by its category's rule (`formula` for HME,
    `general` otherwise), plus "Final Score": their sum, out of 1000 on the full benchmark."""
    totals: dict[str, float] = {}
    for category, general_score, formula_score in zip(categories, general, formula, strict=True):
        score = formula_score if category == HME_CATEGORY else general_score
        totals[category] = totals.get(category, 0.0) + float(score)
    totals["Final Score"] = sum(totals.values())
    return totals


OCRBENCH = Metric(
    name="ocrbench",
    description="OCRBench: 1 if any reference (lowercased, stripped) is a substring of the prediction.",
    higher_is_better=True,
    score_fn=ocrbench,
    worst_value=0.0,
)
OCRBENCH_FORMULA = Metric(
    name="ocrbench_formula",
    description="OCRBench's handwritten-formula rule: 1 if any reference, spaces removed, is in the prediction.",
    higher_is_better=True,
    score_fn=partial(ocrbench, formula=True),
    worst_value=0.0,
)
