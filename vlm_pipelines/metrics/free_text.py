"""Metrics for a free-text reference (the chat-feedback tasks).

- `token_f1`: the SQuAD v1.1 token F1 (`evaluate-v1.1.py`): lowercase, drop punctuation and the articles
  a/an/the, split on whitespace, F1 of the bag-of-tokens overlap; the best over the references. `[n]`
  citation markers are removed first, so citing does not change the score.
- `citation_match`: 1 when the prediction cites (with `[n]`) at least one source the reference answer cites,
  else 0. The sources are the task's frozen context passages, numbered as in the chat, so the numbers agree.
  A reference that cites nothing is taken to cite `[1]` (the top retrieved passage).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from vlm_pipelines.metrics.registry import Metric

CITATION = re.compile(r"\[(\d{1,3})\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def strip_citations(text: str) -> str:
    return CITATION.sub(" ", text)


def squad_tokens(text: str) -> list[str]:
    """SQuAD's `normalize_answer`, split into tokens."""
    lowered = strip_citations(text).lower().translate(_PUNCTUATION)
    return _ARTICLES.sub(" ", lowered).split()


def _f1(prediction: list[str], reference: list[str]) -> float:
    common = sum((Counter(prediction) & Counter(reference)).values())
    if not prediction or not reference:
        return float(prediction == reference)
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: Sequence[str]) -> float:
    predicted = squad_tokens(prediction)
    return max(_f1(predicted, squad_tokens(reference)) for reference in references)


def cited(text: str) -> set[int]:
    return {int(number) for number in CITATION.findall(text)}


def citation_match(prediction: str, references: Sequence[str]) -> float:
    predicted = cited(prediction)
    return float(any(predicted & (cited(reference) or {1}) for reference in references))


TOKEN_F1 = Metric(
    name="token_f1",
    description="SQuAD v1.1 token F1 against the best reference ([n] markers removed).",
    higher_is_better=True,
    score_fn=token_f1,
)
CITATION_MATCH = Metric(
    name="citation_match",
    description="1 if the answer cites ([n]) a source the reference answer cites (none cited: [1]).",
    higher_is_better=True,
    score_fn=citation_match,
)
