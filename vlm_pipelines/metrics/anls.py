"""ANLS, Average Normalized Levenshtein Similarity, as the DocVQA / RRC evaluation script computes it.

For one reference:
    distance = Levenshtein(norm(prediction), norm(reference))   norm(s) = " ".join(s.lower().strip().split())
    NL       = distance / max(len(raw prediction), len(raw reference))     (0.0 when both are empty)
The sample score is ``1 - min(NL over references)``, set to 0 when it is below the threshold 0.5.

Two details where implementations disagree, both pinned in tests/metrics/test_anls.py:
- The distance uses the normalised strings but the length uses the *raw* strings, so extra spaces
  in an answer make it look closer: ANLS("1 2 3", ["1  2  4 "]) = 1 - 1/8 = 0.875, not 1 - 1/5 = 0.8.
  The raw length is measured as the script does, ``len(s.upper())``; it differs from ``len(s)`` only
  for the few characters whose upper case is longer ("ß" -> "SS").
- The script keeps the score when ``1 - NL >= 0.5``, so NL = 0.5 exactly scores 0.5; the paper's
  formula (``NL < 0.5``) would give 0.
An empty prediction against an empty reference scores 1.0 (NL is defined as 0 when both are empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from vlm_pipelines.metrics.registry import Metric, as_reference_list

ANLS_THRESHOLD = 0.5


def normalize_answer(text: str) -> str:
    """Lowercase, strip and collapse whitespace, as the RRC script does before the edit distance."""
    return " ".join(text.lower().split())  # split() already drops leading/trailing whitespace


def raw_length(text: str) -> int:
    """Length of the un-normalised string, measured like the RRC script: ``len(text.upper())``."""
    return len(text) if text.isascii() else len(text.upper())


def anls(prediction: str, references: str | Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """ANLS of one prediction against its references (max over references)."""
    prediction_norm = normalize_answer(prediction)
    prediction_len = raw_length(prediction)
    best_nl = min(
        _normalized_distance(
            Levenshtein.distance(prediction_norm, normalize_answer(ref)), prediction_len, raw_length(ref)
        )
        for ref in as_reference_list(references)
    )
    score = 1.0 - best_nl
    return 0.0 if score < threshold else score


def _normalized_distance(distance: int, prediction_len: int, reference_len: int) -> float:
    length = max(prediction_len, reference_len)
    return 0.0 if length == 0 else distance / length


def anls_batch(
    predictions: Sequence[str],
    references: Sequence[str | Sequence[str]],
    threshold: float = ANLS_THRESHOLD,
    workers: int = -1,
) -> np.ndarray:
    """ANLS for a whole column; equal, value for value, to `anls` on each row.

    The per-string work (normalisation, raw length) is one list comprehension each; the edit
    distances of all (prediction, reference) pairs are computed in C++ by rapidfuzz ``cpdist`` on
    `workers` threads (-1: all cores); division, min over references and threshold are numpy.
    Deduplicating strings first was measured and rejected: hashing every string into a dict costs
    more than normalising it (see bench/README.md).
    """
    n_rows = len(predictions)
    if n_rows == 0:
        return np.zeros(0, dtype=np.float64)
    # Lists pass through as they are; anything else (a bare string, a tuple, an empty list) is checked.
    reference_lists = [
        refs if type(refs) is list and refs else as_reference_list(refs) for refs in references
    ]
    refs_per_row = np.fromiter(map(len, reference_lists), dtype=np.int64, count=n_rows)
    flat_refs = list(chain.from_iterable(reference_lists))
    pair_row = np.repeat(np.arange(n_rows), refs_per_row)  # row of each (prediction, reference) pair

    # normalize_answer and raw_length, inlined: a function call per string costs a third of the time.
    prediction_norm = np.array([" ".join(text.lower().split()) for text in predictions], dtype=object)
    reference_norm = [" ".join(text.lower().split()) for text in flat_refs]
    prediction_len = np.array(
        [len(text) if text.isascii() else len(text.upper()) for text in predictions], dtype=np.int64
    )
    reference_len = np.array(
        [len(text) if text.isascii() else len(text.upper()) for text in flat_refs], dtype=np.int64
    )

    distances = process.cpdist(
        prediction_norm[pair_row], reference_norm, scorer=Levenshtein.distance, workers=workers
    ).astype(np.float64)
    pair_length = np.maximum(prediction_len[pair_row], reference_len).astype(np.float64)
    nl = np.zeros_like(distances)
    np.divide(distances, pair_length, out=nl, where=pair_length > 0)

    row_starts = np.concatenate(([0], np.cumsum(refs_per_row)[:-1]))
    scores = 1.0 - np.minimum.reduceat(nl, row_starts)
    scores[scores < threshold] = 0.0
    return scores


def rrc_levenshtein(first: str, second: str) -> int:
    """Pure-Python two-row dynamic programme, as in the RRC / DocVQA evaluation script.

    Slow on purpose: it is the oracle that `anls_batch` is checked and benchmarked against.
    """
    if len(first) > len(second):
        first, second = second, first
    previous = list(range(len(first) + 1))
    for i, char_second in enumerate(second):
        current = [i + 1]
        for j, char_first in enumerate(first):
            if char_first == char_second:
                current.append(previous[j])
            else:
                current.append(1 + min(previous[j], previous[j + 1], current[-1]))
        previous = current
    return previous[-1]


def rrc_anls(prediction: str, references: Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """Straight per-pair port of the RRC script's scoring (the reference implementation)."""
    values = []
    for reference in references:
        gt_answer = " ".join(reference.strip().lower().split())
        det_answer = " ".join(prediction.strip().lower().split())
        distance = rrc_levenshtein(gt_answer, det_answer)
        length = max(len(reference.upper()), len(prediction.upper()))
        values.append(0.0 if length == 0 else float(distance) / float(length))
    question_result = 1 - min(values)
    if question_result < threshold:
        question_result = 0
    return float(question_result)


ANLS = Metric(
    name="anls",
    description="DocVQA/RRC ANLS: 1 - normalised Levenshtein (raw-length denominator), 0 below 0.5.",
    higher_is_better=True,
    score_fn=anls,
    batch_fn=anls_batch,
    worst_value=0.0,
)
