"""Retrieval quality of a knowledge base on a question set, in the spirit of RAGFlow's retrieval testing.

A question set is YAML: a list of `{question, document, page?}` (the document as the knowledge base names
it; a page narrows the expected hit). For each retrieval mode (and `hybrid+rerank` when a local
cross-encoder is set), hit@k is the share of questions whose expected document (and page) is among the
first k hits, and MRR the mean of 1/rank of the first such hit (0 when it is not in the first `MAX_RANK`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlm_pipelines.knowledge.index import FUSION, Fusion, Hit, KnowledgeIndex, Mode

KS = (1, 3, 5)
MAX_RANK = 10
MODES: tuple[Mode, ...] = ("hybrid", "vector", "keyword")


@dataclass(frozen=True)
class Question:
    question: str
    document: str
    page: int | None = None
    kind: str = ""  # e.g. "exact token" for IDs, numbers and codes


def load_questions(path: Path) -> list[Question]:
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of {{question, document, page}} entries")
    questions = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("question") or not entry.get("document"):
            raise ValueError(f"{path}[{index}]: each entry needs 'question' and 'document'")
        questions.append(
            Question(
                str(entry["question"]), str(entry["document"]), entry.get("page"), str(entry.get("kind", ""))
            )
        )
    return questions


def first_rank(hits: list[Hit], question: Question) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if hit.document == question.document and (question.page is None or hit.page == question.page):
            return rank
    return None


def evaluate(
    index: KnowledgeIndex,
    questions: list[Question],
    modes: tuple[Mode, ...] = MODES,
    fusion: Fusion = FUSION,
) -> list[dict[str, Any]]:
    """One row per (mode, question kind or 'all'): n, hit@1/3/5 and MRR. `fusion`: that of `hybrid`."""
    from vlm_pipelines.knowledge.embeddings import local_reranker

    if local_reranker() is not None and "hybrid" in modes:
        modes = (*modes, "hybrid+rerank")  # type: ignore[assignment]

    def hits(question: Question, mode: str) -> list[Hit]:
        base = mode.removesuffix("+rerank")
        rerank = mode.endswith("+rerank")
        return index.search(question.question, MAX_RANK, base, rerank=rerank, fusion=fusion)  # type: ignore[arg-type]

    ranks = {mode: [first_rank(hits(q, mode), q) for q in questions] for mode in modes}
    kinds = ["all", *sorted({q.kind for q in questions if q.kind})]
    rows = []
    for mode in modes:
        for kind in kinds:
            chosen = [
                rank
                for rank, q in zip(ranks[mode], questions, strict=True)
                if kind == "all" or q.kind == kind
            ]
            if not chosen:
                continue
            row: dict[str, Any] = {"mode": mode, "questions": kind, "n": len(chosen)}
            for k in KS:
                row[f"hit@{k}"] = sum(rank is not None and rank <= k for rank in chosen) / len(chosen)
            row["mrr"] = sum(1 / rank for rank in chosen if rank is not None) / len(chosen)
            rows.append(row)
    return rows
