"""Knowledge bases with the real components: every format, the real MiniLM, a real persistent Chroma in a
temporary folder, BM25, incremental ingestion, hybrid search with filters, and a reopened collection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chat import documents as docs
from vlm_pipelines.knowledge.index import Hit, KnowledgeIndex, Mode, exact_tokens, holds

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = docs.write_corpus(tmp_path / "docs")
    docs.write_scanned_pdf(folder / "register.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage that is no PDF")
    return folder


def test_every_format_is_indexed_with_page_and_heading_path(tmp_path: Path, corpus: Path) -> None:
    index = KnowledgeIndex("formats", tmp_path / "data")
    report = index.ingest_folder(corpus)

    assert sorted(report.added) == [
        "cooling.md",
        "handbook.docx",
        "offices.html",
        "payments.txt",
        "pump-manual.pdf",
        "register.pdf",
    ]
    assert list(report.skipped) == ["broken.pdf"] and "not a readable PDF" in report.skipped["broken.pdf"]
    assert index.collection.count() == len(index.chunk_table()) == report.chunks
    rows = {row["document"]: row for row in index.chunk_table() if "36 months" in row["text"]}
    assert rows["pump-manual.pdf"]["page"] == 2  # the fact is on the PDF's second page
    heading = next(row for row in index.chunk_table() if docs.DOCX_FACT in row["text"])
    assert heading["heading_path"] == "Service handbook > Response times"
    scanned = next(row for row in index.chunk_table() if row["document"] == "register.pdf")
    assert scanned["ocr"] is True and "QX-5521" in scanned["text"]  # no text layer: read by OCR
    html = next(row for row in index.chunk_table() if row["document"] == "offices.html")
    assert "__xss" not in html["text"]  # scripts are not text


def test_hybrid_search_finds_facts_and_filters(tmp_path: Path, corpus: Path) -> None:
    index = KnowledgeIndex("search", tmp_path / "data")
    index.ingest_folder(corpus)

    best = index.search("How long is the ZX-900 warranty?", k=3)[0]
    assert (best.document, best.page) == ("pump-manual.pdf", 2)
    assert set(best.ranks) == {"vector", "keyword"} and best.snippet
    exact = index.search("INV-48213", k=1, mode="keyword")[0]
    assert exact.document == "payments.txt"
    only_docx = index.search("warranty period", k=5, filters={"document": "handbook.docx"})
    assert only_docx and {hit.document for hit in only_docx} == {"handbook.docx"}
    page_one = index.search("pump", k=5, filters={"document": "pump-manual.pdf", "page": 1})
    assert {hit.page for hit in page_one} == {1}


def test_ingestion_is_incremental(tmp_path: Path, corpus: Path) -> None:
    index = KnowledgeIndex("incremental", tmp_path / "data")
    first = index.ingest_folder(corpus)
    assert first.embedded_chunks == first.chunks > 0

    again = index.ingest_folder(corpus)
    assert again.embedded_chunks == 0 and len(again.unchanged) == 6  # unchanged hashes: nothing embedded
    assert again.ocr_engine.split()[0] in {"tesseract", "rapidocr"}

    (corpus / "cooling.md").write_text(
        "# Cooling unit\n\nThe new maintenance code is MC-9000.\n", encoding="utf-8"
    )
    (corpus / "payments.txt").unlink()
    changed = index.ingest_folder(corpus)
    assert changed.updated == ["cooling.md"] and changed.removed == ["payments.txt"]
    assert changed.embedded_chunks == 1
    texts = " ".join(row["text"] for row in index.chunk_table())
    assert "MC-9000" in texts and "MC-7731" not in texts and "INV-48213" not in texts
    assert index.collection.count() == len(index.chunk_table())  # the removed file's chunks are deleted
    assert index.search("INV-48213", k=3, mode="keyword") == []  # BM25 rebuilt without them


def test_a_new_process_reopens_the_collection(tmp_path: Path, corpus: Path) -> None:
    KnowledgeIndex("reopen", tmp_path / "data").ingest_folder(corpus)
    script = (
        "import json, sys; from pathlib import Path; from vlm_pipelines.knowledge.index import KnowledgeIndex;"
        "index = KnowledgeIndex('reopen', Path(sys.argv[1]));"
        "conf = index.collection.configuration_json['embedding_function'];"
        "hits = index.search('service desk warranty claims', k=1, mode='vector');"
        "print(json.dumps([conf['name'], hits[0].document, hits[0].page]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["vlmbench-minilm", "pump-manual.pdf", 2]


def test_another_ocr_engine_reads_every_file_again(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlm_pipelines.knowledge import index as index_module

    index = KnowledgeIndex("engine", tmp_path / "data")
    index.ingest_folder(corpus)
    monkeypatch.setattr(index_module, "ocr_engine", lambda: "another-engine 9.9")
    index_module.reader_version.cache_clear()
    try:
        again = index.ingest_folder(corpus)
    finally:
        index_module.reader_version.cache_clear()
    assert len(again.updated) == 6 and again.unchanged == []  # what `auto` resolved to changed: read again
    assert again.ocr_engine == "another-engine 9.9"


def write_ledgers(folder: Path, records: int = 40) -> Path:
    """Invoice records that differ only in their numbers (what vector search cannot tell apart), one
    section (one chunk) each, twenty to a file."""
    folder.mkdir(parents=True, exist_ok=True)
    for ledger in range(records // 20):
        parts = [f"# Ledger {ledger}"]
        for number in range(ledger * 20, ledger * 20 + 20):
            parts.append(
                f"## Entry {number % 20 + 1}\n\nInvoice INV-{number:05d} was issued by Acme Industries for a "
                f"replacement pump. The total amount is {1000 + 37 * number}.50 EUR, payable within 30 days."
            )
        (folder / f"ledger-{ledger}.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return folder


def test_hybrid_puts_the_chunk_holding_an_asked_for_id_first_and_still_uses_vectors(tmp_path: Path) -> None:
    folder = write_ledgers(docs.write_corpus(tmp_path / "docs"))
    index = KnowledgeIndex("fusion", tmp_path / "data")
    index.ingest_folder(folder)

    def first(question: str, mode: Mode) -> Hit:
        return index.search(question, 5, mode, rerank=False)[0]

    questions = {f"INV-{n:05d}": f"What is the total amount of invoice INV-{n:05d}?" for n in range(40)}
    # Only one chunk holds each invoice number; vector search alone cannot tell the records apart.
    assert sum(token in first(questions[token], "vector").text for token in list(questions)[:10]) < 8
    assert all(token in first(q, "hybrid").text for token, q in questions.items())
    # A paraphrase shares no word with its passage: BM25 misses it, the vector half of hybrid finds it.
    paraphrase = "How soon will my complaint get an answer?"
    assert "handbook.docx" not in {hit.document for hit in index.search(paraphrase, 5, "keyword")}
    best = first(paraphrase, "hybrid")
    assert best.document == "handbook.docx" and docs.DOCX_FACT in best.text and "vector" in best.ranks


def test_exact_tokens_are_ids_numbers_and_codes_matched_as_whole_words() -> None:
    assert exact_tokens("Is INV-00017 in HFParams, ocr_demo_mini.py or 0.977? What CPU?") == [
        "INV-00017",
        "HFParams",
        "ocr_demo_mini.py",
        "0.977",
    ]
    assert holds("Invoice inv-00017 was paid.", "INV-00017")
    assert not holds("Invoice INV-000170 was paid.", "INV-00017")


def test_a_knowledge_base_cannot_take_the_name_of_the_index_folder(tmp_path) -> None:
    """Review of issue 19: a base named `chroma`, once deleted, removed every base's vectors."""
    from vlm_pipelines.knowledge.bases import create_base
    from vlm_pipelines.knowledge.index import KnowledgeBaseError

    for name in ("chroma", "Chroma"):
        with pytest.raises(KnowledgeBaseError, match="reserved"):
            create_base(name, data_dir=tmp_path)
