"""Reading / page order: how close a predicted ordering is to the true one.

The structured functions take two sequences of item ids (page numbers, block ids):
- ``kendall_tau`` and ``spearman_rho`` (scipy.stats) compare, item by item, the position in the
  reference with the position in the prediction: 1.0 same order, -1.0 reversed. They need the
  prediction to be a permutation of the reference; anything else (missing, extra or repeated items)
  scores `UNPARSED_CORRELATION` = 0.0, the expected value of a random order, so a model that fails to
  answer is not scored as if it had reversed the pages. One-item orders score 1.0 when they agree.
- ``positional_accuracy``: positions holding the reference's item, over the longer of the two lists, so
  missing and extra items both cost (`[0, 1, 2, 0]` against `[0, 1, 2]` is 0.75, not 1.0).

The registered per-sample metrics read both sides with `vlm_pipelines.answers.read_order_items` (a JSON
list or separated integers) and put them in one base before comparing:
- the **reference declares the base**: a permutation of 0..n-1 is 0-based, one of 1..n is 1-based,
  anything else is a list of page ids (`["p3", "p1", "p2"]`, `[12, 10, 11]`) compared as they are
  (integers and digit strings are the same page; other ids are stripped and casefolded);
- a **complete** predicted permutation of 0..n-1 or of 1..n is read in its own base whatever the
  reference's (`[1, 2, 3]` against `[0, 1, 2]` is tau 1.0, and so is `[0, 1, 2]` against `[1, 2, 3]`);
- a **partial** predicted list (positional accuracy only) is read in the reference's base, unless it
  holds a number only the other base has (n for a 0-based reference, 0 for a 1-based one) and none out of
  that base: `[3, 1]` against the 0-based `[2, 0, 1]` is `[2, 0]`, 2/3, as `[2, 0]` itself is.
An answer that is no list scores 0.0 on all three; the task's parse rate shows such answers apart. An
unparseable reference, or one that repeats a page, raises ValueError; `order_reference_problems` is the
dataset-side form of that check.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from vlm_pipelines.answers import order_base, read_order_items
from vlm_pipelines.metrics.registry import Metric, as_reference_list

# The score of an answer that is not a permutation of the pages: a random order's expected correlation.
UNPARSED_CORRELATION = 0.0


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
    """Kendall's tau between reference and predicted positions; 0.0 (chance) if not a permutation."""
    from scipy.stats import kendalltau  # scipy.stats takes seconds to import: only when used

    return _correlation(kendalltau, predicted_order, reference_order)


def spearman_rho(predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]) -> float:
    """Spearman's rho between reference and predicted positions; 0.0 (chance) if not a permutation."""
    from scipy.stats import spearmanr

    return _correlation(spearmanr, predicted_order, reference_order)


def positional_accuracy(predicted_order: Sequence[Hashable], reference_order: Sequence[Hashable]) -> float:
    """Positions where the prediction has the reference's item, over the longer list's length (1.0 for
    two empty orders): a missing item and an extra item both lower it."""
    _check_reference(reference_order)
    longer = max(len(predicted_order), len(reference_order))
    if not longer:
        return 1.0
    hits = sum(p == r for p, r in zip(predicted_order, reference_order, strict=False))
    return hits / longer


def _reference_items(text: str) -> list[int | str]:
    items = read_order_items(text)
    if items is None:
        raise ValueError(f"reference is not a JSON list: {text[:80]!r}")
    _check_reference(items)
    return items


def _in_base(items: Sequence[int | str], n: int, base: int) -> list[int | str]:
    """`items` (a prediction) as 0-based positions for a reference of `n` pages in `base` (0 or 1)."""
    if any(isinstance(item, str) for item in items):
        return list(items)  # ids against page numbers: nothing to shift, nothing will match
    own = order_base(items) if len(items) == n else None
    if own is None:
        other = 1 - base
        in_range = [all(b <= item < b + n for item in items) for b in (base, other)]
        own = other if in_range[1] and not in_range[0] else base
    return [item - own for item in items]  # type: ignore[operator]


def align_orders(prediction: str, reference: str) -> tuple[list[int | str] | None, list[int | str]]:
    """(predicted, reference) pages of one sample in one base (module docstring); predicted is None when
    the answer is no list."""
    reference_items = _reference_items(reference)
    predicted = read_order_items(prediction)
    base = order_base(reference_items)
    if base is None:
        return predicted, reference_items
    shifted_reference = [item - base for item in reference_items]  # type: ignore[operator]
    if predicted is None:
        return None, shifted_reference
    return _in_base(predicted, len(reference_items), base), shifted_reference


def order_reference_problems(references: Sequence[str]) -> list[str]:
    """What is wrong with a sample's page-order references (for a dataset check): each must be a JSON
    list of distinct pages, and all must order the same pages."""
    problems, page_sets = [], []
    for text in references:
        try:
            items = _reference_items(text)
        except ValueError as error:
            problems.append(str(error))
            continue
        base = order_base(items)
        page_sets.append(frozenset(items if base is None else [item - base for item in items]))  # type: ignore[operator]
    if len(set(page_sets)) > 1:
        problems.append("the references order different sets of pages")
    return problems


def _per_sample(
    order_metric: Callable[[Sequence[Hashable], Sequence[Hashable]], float], worst: float
) -> Callable[[str, list[str]], float]:
    def score(prediction: str, references: str | Sequence[str]) -> float:
        aligned = [align_orders(prediction, reference) for reference in as_reference_list(references)]
        if aligned[0][0] is None:
            return worst
        return max(order_metric(predicted, reference) for predicted, reference in aligned)  # type: ignore[arg-type]

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
    description="Positions holding the reference's page, over the longer list; 0 if the answer is no list.",
    higher_is_better=True,
    score_fn=_per_sample(positional_accuracy, 0.0),
    worst_value=0.0,
)
