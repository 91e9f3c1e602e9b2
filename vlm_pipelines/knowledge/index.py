"""A knowledge base's index: its chunks in a persistent Chroma collection (MiniLM embeddings, cosine) and a
BM25 index (bm25s) beside it, kept in step by incremental ingestion; and hybrid search over both.

Layout, under `<data dir>/knowledge/`:
- `chroma/`: one persistent Chroma client; each knowledge base is the collection `kb-<name>`;
- `<name>/manifest.json`: every indexed file with its content hash and chunk ids, and the skipped files
  with their reasons and content hashes (a skipped file is not read again until it changes); `<name>/chunks.jsonl`: the chunk table (what BM25 indexes and hits are read from);
  `<name>/bm25/`: the saved BM25 index; `<name>/ingest.json`: the last ingestion's report.

Ingestion is incremental: a file whose content hash is unchanged is skipped, a changed file's chunks are
replaced (deterministic ids, `upsert`), a removed file's chunks are deleted, and the BM25 index is rebuilt
from the chunk table. Search: `vector` (Chroma), `keyword` (BM25) or `hybrid` (both, fused by weighted
reciprocal rank fusion with k=60, chunks holding the query's exact tokens first: see `Fusion`), with
optional metadata filters (`{"document": [...], "page": 3}`). When a local cross-encoder is configured
(`VLMBENCH_RERANKER`), the fused candidates are reranked by it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from vlm_pipelines import settings
from vlm_pipelines.knowledge.chunking import Chunk, chunk_sections
from vlm_pipelines.knowledge.documents import DocumentError, iter_files, read_sections
from vlm_pipelines.knowledge.documents import ocr_engine_label as ocr_engine
from vlm_pipelines.knowledge.embeddings import MiniLMEmbeddingFunction, embed, local_reranker

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60
CANDIDATES = 30  # hits taken from each retriever before fusion
# An ID, number or code in a query: a word with a digit or an underscore, or mixed case past its first
# letter (INV-00123, 0.977, VLMBENCH_REGISTRY_DIR, ocr_demo_mini.py, HFParams; not "What" or "CPU").
WORD = re.compile(r"[A-Za-z0-9_][\w./-]*")
EXACT = re.compile(r"[\d_]|[a-z].*[A-Z]|.[A-Z].*[a-z]")
RERANK_CANDIDATES = 20
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
UPSERT_BATCH = 256
CHROMA_FOLDER = "chroma"  # under knowledge_dir: the one persistent Chroma client of every knowledge base


@functools.cache
def reader_version() -> str:
    """A hash of the code that turns files into chunks and of the OCR engine `auto` resolved to: when either
    changes (Tesseract installed, say), every file is read again."""
    from vlm_pipelines.knowledge import chunking, documents

    sources = [Path(module.__file__).read_bytes() for module in (documents, chunking)]
    return hashlib.sha256(b"\0".join([*sources, ocr_engine().encode()])).hexdigest()[:12]


class KnowledgeBaseError(ValueError):
    pass


def knowledge_dir(data_dir: Path | None = None) -> Path:
    return Path(data_dir or settings.data_dir()) / "knowledge"


RESERVED_NAMES = frozenset({CHROMA_FOLDER})  # folders of `knowledge_dir` that are not a knowledge base's


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name) or ".." in name:
        raise KnowledgeBaseError(
            f"knowledge base name {name!r}: use 1-63 letters, digits, '.', '_' and '-', starting with a letter "
            "or digit"
        )
    if name.casefold() in RESERVED_NAMES:
        raise KnowledgeBaseError(
            f"knowledge base name {name!r} is reserved (the index's own folder); choose another"
        )
    return name


@functools.cache
def _client(path: str):
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))


@dataclass
class IngestReport:
    """What one ingestion did. `seconds` is the whole run; `chunks_per_s` counts the chunks it embedded."""

    documents: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    embedded_chunks: int = 0
    seconds: float = 0.0
    ocr_engine: str = ""

    @property
    def chunks_per_s(self) -> float:
        return self.embedded_chunks / self.seconds if self.seconds > 0 and self.embedded_chunks else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"chunks_per_s": self.chunks_per_s}


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document: str
    page: int | None
    heading_path: str
    text: str
    score: float
    ranks: Mapping[str, int]  # the hit's rank (1-based) in each retriever that found it

    @property
    def snippet(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= 240 else text[:237] + "..."

    def citation(self) -> str:
        where = f", page {self.page}" if self.page is not None else ""
        return f"{self.document}{where}" + (f" ({self.heading_path})" if self.heading_path else "")


@dataclass(frozen=True)
class Fusion:
    """How hybrid search merges the BM25 and vector rankings: reciprocal rank fusion with a weight per
    retriever; with `exact_first`, a fused chunk's score gains 1 for each of the query's exact tokens
    (`exact_tokens`) it holds, so the chunks holding an asked-for ID come first. `FUSION`, the default, is
    chosen by `bench/knowledge_bench.py` on exact-token and natural-language questions."""

    keyword_weight: float = 1.0
    vector_weight: float = 1.0
    exact_first: bool = True

    def weight(self, retriever: str) -> float:
        return self.keyword_weight if retriever == "keyword" else self.vector_weight


FUSION = Fusion()


def exact_tokens(query: str) -> list[str]:
    """The query's IDs, numbers and codes (`EXACT`), three characters or more, trailing punctuation off."""
    words = (word.rstrip("./-") for word in WORD.findall(query))
    return list(dict.fromkeys(word for word in words if len(word) >= 3 and EXACT.search(word)))


def holds(text: str, token: str) -> bool:
    """Whether `text` has `token` as a whole word (case-insensitive): INV-00123 is not in INV-001234."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(row: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    for key, wanted in (filters or {}).items():
        values = wanted if isinstance(wanted, list | tuple | set) else [wanted]
        if row.get(key) not in values:
            return False
    return True


def _chroma_where(filters: Mapping[str, Any] | None) -> dict | None:
    clauses = []
    for key, wanted in (filters or {}).items():
        values = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
        values = [-1 if key == "page" and value is None else value for value in values]
        clauses.append({key: {"$in": values}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class KnowledgeIndex:
    """The index of one knowledge base (see the module docstring)."""

    def __init__(self, name: str, data_dir: Path | None = None) -> None:
        self.name = check_name(name)
        self.root = knowledge_dir(data_dir)
        self.folder = self.root / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.collection = _client(str(self.root / CHROMA_FOLDER)).get_or_create_collection(
            name=f"kb-{name}",
            embedding_function=MiniLMEmbeddingFunction(),
            configuration={"hnsw": {"space": "cosine"}},
        )
        self._bm25 = None
        self._table: list[dict[str, Any]] | None = None
        self._by_id: dict[str, dict[str, Any]] | None = None  # the chunk table by chunk id, built once

    # ---- state on disk ---------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if self.manifest_path.exists():
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return {"documents": {}, "skipped": {}}

    def chunk_table(self) -> list[dict[str, Any]]:
        if self._table is None:
            path = self.folder / "chunks.jsonl"
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            self._table = [json.loads(line) for line in lines]
        return self._table

    def _rows_by_id(self) -> dict[str, dict[str, Any]]:
        if self._by_id is None:
            self._by_id = {row["chunk_id"]: row for row in self.chunk_table()}
        return self._by_id

    def last_report(self) -> dict[str, Any] | None:
        path = self.folder / "ingest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def _write(self, name: str, text: str) -> None:
        partial = self.folder / f".{name}.tmp"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, self.folder / name)

    # ---- ingestion -------------------------------------------------------------------------------

    def ingest(self, sources: Iterable[tuple[str, Path]]) -> IngestReport:
        """Indexes `(document name, path)` pairs incrementally (see the module docstring)."""
        started = time.perf_counter()
        report = IngestReport()
        manifest = self.manifest()
        skipped_before = _skipped_entries(manifest.get("skipped", {}))
        if manifest.get("reader_version") != reader_version():
            for entry in [*manifest["documents"].values(), *skipped_before.values()]:
                entry["sha256"] = ""  # read again with the current code (same ids: upserted in place)
            manifest["reader_version"] = reader_version()
        manifest["ocr_engine"] = ocr_engine()
        known: dict[str, Any] = manifest["documents"]
        skipped: dict[str, dict[str, str]] = {}
        table = {row["chunk_id"]: row for row in self.chunk_table()}
        seen: set[str] = set()
        for document, path in sources:
            seen.add(document)
            content_hash = _sha256(path)
            if document in known and known[document]["sha256"] == content_hash:
                report.unchanged.append(document)
                continue
            if skipped_before.get(document, {}).get("sha256") == content_hash:
                skipped[document] = skipped_before[document]  # refused before, unchanged: not read again
                report.skipped[document] = skipped[document]["reason"]
                continue
            try:
                kind, sections = read_sections(path)
            except Exception as error:  # noqa: BLE001 - a broken file is skipped with its reason
                reason = (
                    str(error)
                    if isinstance(error, DocumentError)
                    else f"cannot be read ({type(error).__name__}: {error})"
                )
                skipped[document] = {"reason": reason, "sha256": content_hash}
                report.skipped[document] = reason
                self._drop(document, known, table)
                continue
            chunks = chunk_sections(document, sections)
            old = known.get(document, {}).get("chunks", [])
            stale = [chunk_id for chunk_id in old if chunk_id not in {chunk.chunk_id for chunk in chunks}]
            if stale:
                self.collection.delete(ids=stale)
            self._upsert(chunks, content_hash)
            for chunk_id in old:
                table.pop(chunk_id, None)
            for chunk in chunks:
                table[chunk.chunk_id] = _row(chunk)
            (report.updated if document in known else report.added).append(document)
            known[document] = {"sha256": content_hash, "type": kind, "chunks": [c.chunk_id for c in chunks]}
            report.embedded_chunks += len(chunks)
        for document in sorted(set(known) - seen):
            self._drop(document, known, table)
            report.removed.append(document)
        manifest["skipped"] = skipped
        ordered = sorted(table.values(), key=lambda row: (row["document"], row["index"]))
        self._write("chunks.jsonl", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ordered))
        self._write("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        self._table, self._by_id = ordered, None
        self._rebuild_bm25(ordered)
        report.documents = len(known)
        report.chunks = len(ordered)
        report.ocr_engine = manifest["ocr_engine"]
        report.seconds = time.perf_counter() - started
        self._write("ingest.json", json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return report

    def ingest_folder(self, folder: Path) -> IngestReport:
        folder = Path(folder)
        return self.ingest((path.relative_to(folder).as_posix(), path) for path in iter_files(folder))

    def skipped(self) -> dict[str, str]:
        """The skipped files of the last ingestion, with their reasons."""
        entries = _skipped_entries(self.manifest().get("skipped", {}))
        return {document: entry["reason"] for document, entry in entries.items()}

    def _drop(self, document: str, known: dict[str, Any], table: dict[str, dict]) -> None:
        ids = known.pop(document, {}).get("chunks", [])
        if ids:
            self.collection.delete(ids=ids)
        for chunk_id in ids:
            table.pop(chunk_id, None)

    def _upsert(self, chunks: list[Chunk], content_hash: str) -> None:
        for start in range(0, len(chunks), UPSERT_BATCH):
            batch = chunks[start : start + UPSERT_BATCH]
            texts = [chunk.indexed_text for chunk in batch]
            self.collection.upsert(
                ids=[chunk.chunk_id for chunk in batch],
                documents=texts,
                embeddings=embed(texts),
                metadatas=[chunk.metadata(content_hash) for chunk in batch],
            )

    # ---- BM25 ------------------------------------------------------------------------------------

    def _rebuild_bm25(self, rows: list[dict[str, Any]]) -> None:
        import bm25s

        folder = self.folder / "bm25"
        if not rows:
            self._bm25 = None
            return
        retriever = bm25s.BM25()
        retriever.index(
            bm25s.tokenize([_indexed(row) for row in rows], show_progress=False), show_progress=False
        )
        retriever.save(str(folder))
        self._bm25 = retriever

    def _keyword_index(self):
        if self._bm25 is None and (self.folder / "bm25").exists() and self.chunk_table():
            import bm25s

            self._bm25 = bm25s.BM25.load(str(self.folder / "bm25"))
        return self._bm25

    # ---- search ----------------------------------------------------------------------------------

    def _vector(self, query: str, count: int, filters: Mapping[str, Any] | None) -> list[str]:
        total = self.collection.count()
        if not total:
            return []
        found = self.collection.query(
            query_embeddings=embed([query]), n_results=min(count, total), where=_chroma_where(filters)
        )
        return list(found["ids"][0])

    def _keyword(self, query: str, count: int, filters: Mapping[str, Any] | None) -> list[str]:
        import bm25s

        retriever, table = self._keyword_index(), self.chunk_table()
        if retriever is None:
            return []
        tokens = bm25s.tokenize([query], show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        k = min(len(table), count * 4 if filters else count)
        indices, scores = retriever.retrieve(tokens, k=k, show_progress=False)
        ids = []
        for index, score in zip(indices[0].tolist(), scores[0].tolist(), strict=True):
            row = table[index]
            if score > 0 and _matches(_filterable(row), filters):
                ids.append(row["chunk_id"])
        return ids[:count]

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        filters: Mapping[str, Any] | None = None,
        rerank: bool | None = None,
        fusion: Fusion = FUSION,
    ) -> list[Hit]:
        """The `k` best chunks for `query` (see the module docstring for the modes and filters). `rerank`:
        None reranks when a local cross-encoder is configured, False never, True requires one. `fusion`:
        how `hybrid` merges the two rankings."""
        rankings: dict[str, list[str]] = {}
        if mode in ("hybrid", "vector"):
            rankings["vector"] = self._vector(query, CANDIDATES, filters)
        if mode in ("hybrid", "keyword"):
            rankings["keyword"] = self._keyword(query, CANDIDATES, filters)
        fused: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        for retriever, ids in rankings.items():
            weight = fusion.weight(retriever) if mode == "hybrid" else 1.0
            for rank, chunk_id in enumerate(ids, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (RRF_K + rank)
                ranks.setdefault(chunk_id, {})[retriever] = rank
        rows = self._rows_by_id()
        if mode == "hybrid" and fusion.exact_first and (tokens := exact_tokens(query)):
            for chunk_id in fused.keys() & rows.keys():
                fused[chunk_id] += sum(holds(_indexed(rows[chunk_id]), token) for token in tokens)
        best = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
        reranker = local_reranker() if rerank is None or rerank else None
        if rerank and reranker is None:
            raise KnowledgeBaseError("reranking asked for, but no cross-encoder is set (VLMBENCH_RERANKER)")
        if reranker is not None and best:
            candidates = [chunk_id for chunk_id in best[: max(k, RERANK_CANDIDATES)] if chunk_id in rows]
            scores = reranker.predict([(query, _indexed(rows[chunk_id])) for chunk_id in candidates]).tolist()
            order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
            best = [candidates[i] for i in order]
            for rank, i in enumerate(order, start=1):
                fused[candidates[i]] = float(scores[i])
                ranks[candidates[i]]["rerank"] = rank
        best = best[:k]
        return [
            Hit(
                chunk_id=chunk_id,
                document=rows[chunk_id]["document"],
                page=rows[chunk_id]["page"],
                heading_path=rows[chunk_id]["heading_path"],
                text=rows[chunk_id]["text"],
                score=fused[chunk_id],
                ranks=ranks[chunk_id],
            )
            for chunk_id in best
            if chunk_id in rows
        ]

    def delete(self) -> None:
        """Removes the knowledge base: its collection and its folder."""
        import shutil

        _client(str(self.root / CHROMA_FOLDER)).delete_collection(f"kb-{self.name}")
        shutil.rmtree(self.folder, ignore_errors=True)


def _skipped_entries(raw: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The manifest's skipped files as {reason, sha256}; a manifest from before hashes were kept has
    reasons only (read again once)."""
    return {
        document: dict(entry) if isinstance(entry, Mapping) else {"reason": str(entry), "sha256": ""}
        for document, entry in raw.items()
    }


def _row(chunk: Chunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "document": chunk.document,
        "index": chunk.index,
        "page": chunk.page,
        "heading_path": chunk.heading_path,
        "text": chunk.text,
        "ocr": chunk.ocr,
    }


def _indexed(row: Mapping[str, Any]) -> str:
    return f"{row['heading_path']}\n{row['text']}" if row["heading_path"] else row["text"]


def _filterable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"document": row["document"], "page": row["page"], "heading_path": row["heading_path"]}
