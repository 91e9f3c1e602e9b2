"""BLEU with sacrebleu, scaled from sacrebleu's 0..100 to 0..1.

Sentence BLEU uses sacrebleu's defaults (13a tokenisation, exponential smoothing). Note the argument
order of sacrebleu: hypothesis first, then the list of references.
"""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu

from vlm_pipelines.metrics.registry import Metric, as_reference_list


def sentence_bleu(prediction: str, references: str | Sequence[str]) -> float:
    """Sentence-level BLEU of one prediction against its references, in 0..1."""
    return sacrebleu.sentence_bleu(prediction, as_reference_list(references)).score / 100.0


def corpus_bleu(predictions: Sequence[str], references: Sequence[str | Sequence[str]]) -> float:
    """Corpus-level BLEU in 0..1; samples may have different numbers of references.

    sacrebleu wants reference *streams* (the k-th reference of every sample), so the per-sample lists
    are transposed and padded with None, which sacrebleu skips.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    reference_lists = [as_reference_list(refs) for refs in references]
    n_streams = max((len(refs) for refs in reference_lists), default=0)
    streams = [[refs[k] if k < len(refs) else None for refs in reference_lists] for k in range(n_streams)]
    return sacrebleu.corpus_bleu(list(predictions), streams).score / 100.0


BLEU = Metric(
    name="bleu",
    description="sacrebleu sentence BLEU (hypothesis, references), scaled to 0..1.",
    higher_is_better=True,
    score_fn=sentence_bleu,
    worst_value=0.0,
)
