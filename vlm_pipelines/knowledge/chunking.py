"""Sections into chunks that keep their page and heading path.

Consecutive sections under the same heading path and page are packed into chunks of about
`TARGET_CHARS` characters; a longer section is cut at sentence ends (or, failing that, at spaces). A chunk
never spans two pages or two heading paths, so every hit can say where it comes from. The chunk's text
as indexed starts with its heading path, which also lets keyword search match a section's title.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from vlm_pipelines.knowledge.documents import Section

TARGET_CHARS = 800
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document: str  # the file's path relative to the knowledge base's source folder
    index: int  # its position in the document
    text: str
    page: int | None
    headings: tuple[str, ...]
    ocr: bool = False

    @property
    def heading_path(self) -> str:
        return " > ".join(self.headings)

    @property
    def indexed_text(self) -> str:
        """What is embedded and searched: the heading path, then the text."""
        return f"{self.heading_path}\n{self.text}" if self.headings else self.text

    def metadata(self, content_hash: str) -> dict[str, str | int | bool]:
        return {
            "document": self.document,
            "index": self.index,
            "page": self.page if self.page is not None else -1,
            "heading_path": self.heading_path,
            "ocr": self.ocr,
            "content_hash": content_hash,
        }


def chunk_id(document: str, index: int) -> str:
    """A deterministic id: re-indexing a document upserts over its own earlier chunks."""
    return hashlib.sha256(f"{document}\0{index}".encode()).hexdigest()[:24]


def _pieces(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    pieces, current = [], ""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > limit:  # a sentence longer than a chunk: cut at the last space that fits
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece]


def chunk_sections(
    document: str, sections: Iterable[Section], target_chars: int = TARGET_CHARS
) -> list[Chunk]:
    chunks: list[Chunk] = []
    buffer: list[str] = []
    key: tuple | None = None

    def flush() -> None:
        if buffer and key is not None:
            page, headings, ocr = key
            chunks.append(
                Chunk(
                    chunk_id(document, len(chunks)),
                    document,
                    len(chunks),
                    "\n".join(buffer),
                    page,
                    headings,
                    ocr,
                )
            )
        buffer.clear()

    for section in sections:
        section_key = (section.page, section.headings, section.ocr)
        if section_key != key:
            flush()
            key = section_key
        for piece in _pieces(section.text, target_chars):
            if buffer and sum(len(part) + 1 for part in buffer) + len(piece) > target_chars:
                flush()
            buffer.append(piece)
    flush()
    return chunks
