"""Reading / page order: how close a predicted ordering is to the true one.

The structured functions take two sequences of item ids (page numbers, block ids):
- ``kendall_tau`` and ``spearman_rho`` (scipy.stats) compare, item by item, the position in the
  reference with the position in the prediction: 1.0 same order, -1.0 reversed. They need the
  prediction to be a permutation of the reference; anything else (missing, extra or repeated items)
  scores `UNPARSED_CORRELATION`. One-item orders score 1.0 when they agree.
- ``positional_accuracy``: share of reference positions holding the right item; it works on any list.

The registered per-sample metrics read the order with `vlm_pipelines.answers.parse_order` (a JSON list or
separated integers, 0- or 1-based). An answer that is no permutation of the pages scores 0.0 on tau and
rho - the expected value of a random order, so a model that fails to answer is not scored as if it had
reversed the pages - and 0.0 on positional accuracy; the task's parse rate shows such answers apart.
An unparseable reference raises ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from vlm_pipelines.answers import extract_json, parse_order, read_integers
from vlm_pipelines.metrics.registry import Metric, as_reference_list

# The score of an answer that is not a permutation of the pages: a random order's expected correlation.
UNPARSED_CORRELATION = 0.0


def _reference_order(text: str) -> list[Hashable] | None:
    value = extract_json(text, list)
    if value is None or not all(isinstance(item, int | float | str) for item in value):
        return None
    return value


def _check_reference(reference_order: Sequence[Hashable]) -> None:
    if len(set(reference_order)) != len(reference_order):
        raise ValueError(f"reference order repeats an item: {list(reference_order)!r}")


def _predicted_positions(
    predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]
) -> list[int] | None:
    """Position in the prediction of each reference item, or None if not a permutation."""
    _check_reference(reference_order)
    if len(predicted_order) != len(reference_order) or set(predicted_order) != set(reference_order):
        return None
    position = {item: i for i, item in enumerate(predicted_order)}
    return [position[item] for item in reference_order]


def _correlation(
    correlate: Callable[..., Any], predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]
) -> float:
    positions = _predicted_positions(predicted_order, reference_order)
    if positions is None:
        return UNPARSED_CORRELATION
    if len(positions) < 2:
        return 1.0
    return float(correlate(range(len(positions)), positions).statistic)


def kendall_tau(predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]) -> float:
    """Kendall's tau between reference and predicted positions; -1.0 if not a permutation."""
    from scipy.stats import kendalltau  # scipy.stats takes seconds to import: only when used

    return _correlation(kendalltau, predicted_order, reference_order)


def spearman_rho(predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]) -> float:
    """Spearman's rho between reference and predicted positions; -1.0 if not a permutation."""
    from scipy.stats import spearmanr

    return _correlation(spearmanr, predicted_order, reference_order)


def positional_accuracy(predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]) -> float:
    """Share of reference positions where the prediction has the same item (1.0 for two empty orders)."""
    _check_reference(reference_order)
    if not reference_order:
        return 1.0 if not predicted_order else 0.0
    hits = sum(p == r for p, r in zip(predicted_order, reference_order, strict=False))
    return hits / len(reference_order)


def _per_sample(
    order_metric: Callable[[Sequence[Hashable], Sequence[Hashable]], float],
    worst: float,
    partial_lists: bool = False,
) -> Callable[[str, list[str]], float]:
    """A per-sample form; with `partial_lists` a list that is no permutation is scored as written."""

    def score(prediction: str, references: str | Sequence[str]) -> float:
        reference_orders = []
        for text in as_reference_list(references):
            order = _reference_order(text)
            if order is None:
                raise ValueError(f"reference is not a JSON list: {text[:80]!r}")
            reference_orders.append(order)
        predicted = parse_order(prediction, len(reference_orders[0]))
        if predicted is None and partial_lists:
            predicted = read_integers(prediction)
        if predicted is None:
            return worst
        return max(order_metric(predicted, ref) for ref in reference_orders)

    return score


KENDALL_TAU = Metric(
    name="kendall_tau",
    description="Kendall's tau of the predicted page order vs the reference; 0 (chance) if no permutation.",
    higher_is_better=True,
    score_fn=_per_sample(kendall_tau, UNPARSED_CORRELATION),
    worst_value=UNPARSED_CORRELATION,
)
SPEARMAN_RHO = Metric(
    name="spearman_rho",
    description="Spearman's rho of the predicted page order vs the reference; 0 (chance) if no permutation.",
    higher_is_better=True,
    score_fn=_per_sample(spearman_rho, UNPARSED_CORRELATION),
    worst_value=UNPARSED_CORRELATION,
)
POSITIONAL_ACCURACY = Metric(
    name="positional_accuracy",
    description="Share of positions where the predicted order has the reference item; 0 if no permutation.",
    higher_is_better=True,
    score_fn=_per_sample(positional_accuracy, 0.0, partial_lists=True),
    worst_value=0.0,
)
