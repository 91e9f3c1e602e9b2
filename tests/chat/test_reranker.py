"""Optional cross-encoder reranking: off unless `VLMBENCH_RERANKER` names a local model (never downloaded).
The positive path uses a real sentence-transformers CrossEncoder built offline here: a BERT classifier
with random weights and MiniLM's tokenizer (no hub can provide a trained one), so the test checks the
wiring (order and scores are the cross-encoder's), not its quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chat import documents as docs
from vlm_pipelines.knowledge import embeddings
from vlm_pipelines.knowledge.index import KnowledgeBaseError, KnowledgeIndex


@pytest.fixture(autouse=True)
def fresh_reranker(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("VLMBENCH_RERANKER", raising=False)
    embeddings.local_reranker.cache_clear()
    yield
    embeddings.local_reranker.cache_clear()


def tiny_cross_encoder(folder: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(embeddings.model_folder()).save_pretrained(folder)
    return folder


def test_without_a_reranker_search_is_not_reranked(tmp_path: Path) -> None:
    index = KnowledgeIndex("plain", tmp_path / "data")
    index.ingest_folder(docs.write_corpus(tmp_path / "docs"))
    assert embeddings.local_reranker() is None
    assert all("rerank" not in hit.ranks for hit in index.search("warranty", 3))
    with pytest.raises(KnowledgeBaseError, match="VLMBENCH_RERANKER"):
        index.search("warranty", 3, rerank=True)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMBENCH_RERANKER", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"VLMBENCH_RERANKER=.*no cross-encoder there"):
        embeddings.local_reranker()


def test_a_local_cross_encoder_reorders_the_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = KnowledgeIndex("reranked", tmp_path / "data")
    index.ingest_folder(docs.write_corpus(tmp_path / "docs"))
    monkeypatch.setenv("VLMBENCH_RERANKER", str(tiny_cross_encoder(tmp_path / "cross-encoder")))

    hits = index.search("How long is the warranty?", 4)

    reranker = embeddings.local_reranker()
    expected = reranker.predict(
        [
            ("How long is the warranty?", f"{h.heading_path}\n{h.text}" if h.heading_path else h.text)
            for h in hits
        ]
    )
    assert [hit.ranks["rerank"] for hit in hits] == [1, 2, 3, 4]
    assert [hit.score for hit in hits] == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-5)
    assert [hit.score for hit in index.search("How long is the warranty?", 4, rerank=False)] != [
        h.score for h in hits
    ]


def test_retrieval_quality_adds_a_reranked_row_when_a_cross_encoder_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlm_pipelines.knowledge.quality import Question, evaluate

    index = KnowledgeIndex("quality", tmp_path / "data")
    index.ingest_folder(docs.write_corpus(tmp_path / "docs"))
    questions = [Question("What is the warranty of the ZX-900 pump?", "pump-manual.pdf", 2)]
    assert [row["mode"] for row in evaluate(index, questions)] == ["hybrid", "vector", "keyword"]
    monkeypatch.setenv("VLMBENCH_RERANKER", str(tiny_cross_encoder(tmp_path / "cross-encoder")))
    embeddings.local_reranker.cache_clear()  # the setting is read once per process
    assert [row["mode"] for row in evaluate(index, questions)] == [
        "hybrid",
        "vector",
        "keyword",
        "hybrid+rerank",
    ]
