"""Classification scored on label strings.

Labels are compared after ``casefold().strip()`` everywhere in this module. The corpus functions take
the predictions and the true labels of a whole column; the registered per-sample metric
``classification_accuracy`` scores one prediction against its reference label(s).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from vlm_pipelines.metrics.registry import Metric, as_reference_list


def normalize_label(label: str) -> str:
    """The comparable form of a label: casefolded and stripped."""
    return label.casefold().strip()


def label_match(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 if the prediction equals any reference label (casefold/strip), else 0.0."""
    predicted = normalize_label(prediction)
    return float(any(predicted == normalize_label(ref) for ref in as_reference_list(references)))


def _normalized_pairs(predictions: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels")
    return [normalize_label(p) for p in predictions], [normalize_label(t) for t in labels]


def classification_accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    """Share of predictions equal to their label; 0.0 for an empty column."""
    preds, truth = _normalized_pairs(predictions, labels)
    return sum(p == t for p, t in zip(preds, truth, strict=True)) / len(truth) if truth else 0.0


def macro_f1(
    predictions: Sequence[str], labels: Sequence[str], classes: Sequence[str] | None = None
) -> float:
    """Unweighted mean of per-class F1.

    By default the classes are every label seen in `labels` or `predictions` (scikit-learn's default),
    so a predicted label that never occurs in the truth adds a class with F1 = 0. Pass `classes` to fix
    the label set. A class with no true and no predicted samples has F1 = 0.
    """
    preds, truth = _normalized_pairs(predictions, labels)
    class_list = (
        [normalize_label(c) for c in classes] if classes is not None else sorted(set(preds) | set(truth))
    )
    if not class_list:
        return 0.0
    f1_scores = []
    for cls in class_list:
        true_positive = sum(p == cls and t == cls for p, t in zip(preds, truth, strict=True))
        predicted_count = sum(p == cls for p in preds)
        true_count = sum(t == cls for t in truth)
        denominator = predicted_count + true_count
        f1_scores.append(2 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(f1_scores))


def confusion_matrix(predictions: Sequence[str], labels: Sequence[str]) -> pl.DataFrame:
    """Counts with one row per true label (column ``true_label``) and one column per predicted label.

    Rows and columns cover the sorted union of all normalised labels, so the matrix is square.
    """
    preds, truth = _normalized_pairs(predictions, labels)
    classes = sorted(set(preds) | set(truth))
    index = {cls: i for i, cls in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(counts, ([index[t] for t in truth], [index[p] for p in preds]), 1)
    columns = {"true_label": classes} | {cls: counts[:, j] for j, cls in enumerate(classes)}
    return pl.DataFrame(columns, schema={"true_label": pl.String} | dict.fromkeys(classes, pl.Int64))


CLASSIFICATION_ACCURACY = Metric(
    name="classification_accuracy",
    description="1 if the predicted label equals the reference label after casefold/strip.",
    higher_is_better=True,
    score_fn=label_match,
    worst_value=0.0,
)
