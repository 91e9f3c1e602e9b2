"""Which knowledge bases exist, where their documents come from, and the one ingestion both the Dagster
asset and the chat app run.

- **Seeded** knowledge bases are registry entries, `registry/knowledge/*.yaml` (the same loader and rules as
  tasks and models): a name, a description, glob patterns of files relative to the repository (or to
  `root`), and an optional question set for retrieval testing.
- **Created** knowledge bases (from the app) are `<data dir>/knowledge/<name>/kb.json`; their documents are
  the files uploaded into `<name>/files/`, plus an optional source folder.

A document is keyed by its knowledge base and its name. Uploads live in `<name>/files/<uploader>/<file>`
and are named `files/<uploader>/<file>`, so an upload never replaces a source file of the same name (or
another user's upload), and the name tells who uploaded it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vlm_pipelines import settings
from vlm_pipelines.knowledge.documents import iter_files
from vlm_pipelines.knowledge.index import (
    NAME_PATTERN,
    IngestReport,
    KnowledgeBaseError,
    KnowledgeIndex,
    check_name,
    knowledge_dir,
)
from vlm_pipelines.registry_files import Registry, load_registry, validate_entry

QUALITY_FILE = "quality.json"
UPLOADS = "files"  # the uploads folder in a knowledge base's folder, and the prefix of their document names


class KnowledgeBaseEntry(BaseModel):
    """One `registry/knowledge/*.yaml` entry."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    root: str | None = None  # the folder the patterns are relative to (default: the repository)
    include: list[str] = Field(min_length=1)
    questions: str | None = None  # a question-set YAML (relative to the repository)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not NAME_PATTERN.match(name):
            raise ValueError(
                f"{name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit"
            )
        return name


@dataclass(frozen=True)
class KnowledgeBase:
    name: str
    description: str
    root: Path | None  # files matched by `include` under it (seeded), or None
    include: tuple[str, ...]
    uploads: Path  # uploaded files
    source_folder: Path | None = None  # an extra folder of documents (created bases)
    questions: Path | None = None
    seeded: bool = False

    def sources(self) -> Iterator[tuple[str, Path]]:
        """(document name, path) of every document: a source file named relative to where it was found, an
        upload `files/<uploader>/<file>`."""
        seen: set[Path] = set()
        if self.root is not None:
            for pattern in self.include:
                for path in sorted(self.root.glob(pattern)):
                    if path.is_file() and path not in seen:
                        seen.add(path)
                        yield path.relative_to(self.root).as_posix(), path
        for folder, prefix in ((self.source_folder, ""), (self.uploads, f"{UPLOADS}/")):
            if folder is not None and folder.is_dir():
                for path in iter_files(folder):
                    if path not in seen:
                        seen.add(path)
                        yield prefix + path.relative_to(folder).as_posix(), path

    def upload_folder(self, username: str) -> Path:
        """Where `username`'s uploads go."""
        if not username or username.startswith(".") or "/" in username or "\\" in username:
            raise KnowledgeBaseError(f"no upload folder for user {username!r}")
        return self.uploads / username

    def upload_path(self, document: str) -> Path | None:
        """The file behind an uploaded document's name (None for a source file)."""
        parts = document.split("/")
        if len(parts) < 2 or parts[0] != UPLOADS or any(part in ("", ".", "..") for part in parts[1:]):
            return None
        return self.uploads.joinpath(*parts[1:])


def uploader(document: str) -> str:
    """Who uploaded a document, from its name (`files/<uploader>/<file>`); '' for a source file."""
    parts = document.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == UPLOADS else ""


def parse_entry(raw: Any, source: str) -> KnowledgeBaseEntry:
    return validate_entry(KnowledgeBaseEntry, raw, source, "knowledge base")


def load_seeded(folder: Path | None = None) -> Registry[KnowledgeBaseEntry]:
    return load_registry("knowledge", "knowledge base", parse_entry, folder)


def _seeded(entry: KnowledgeBaseEntry, data_dir: Path | None) -> KnowledgeBase:
    root = Path(entry.root) if entry.root else settings.REPO_ROOT
    if not root.is_absolute():
        root = settings.REPO_ROOT / root
    questions = settings.REPO_ROOT / entry.questions if entry.questions else None
    return KnowledgeBase(
        name=entry.name,
        description=entry.description,
        root=root,
        include=tuple(entry.include),
        uploads=knowledge_dir(data_dir) / entry.name / "files",
        questions=questions,
        seeded=True,
    )


def knowledge_bases(data_dir: Path | None = None) -> dict[str, KnowledgeBase]:
    """Every knowledge base by name: the seeded ones, then those created in the data folder."""
    bases = {name: _seeded(entry, data_dir) for name, entry in load_seeded().items()}
    root = knowledge_dir(data_dir)
    for config in sorted(root.glob("*/kb.json")) if root.is_dir() else []:
        data = json.loads(config.read_text(encoding="utf-8"))
        if data["name"] in bases:
            continue
        folder = config.parent
        source = Path(data["source_folder"]) if data.get("source_folder") else None
        questions = folder / "questions.yaml"
        bases[data["name"]] = KnowledgeBase(
            name=data["name"],
            description=data.get("description", ""),
            root=None,
            include=(),
            uploads=folder / "files",
            source_folder=source,
            questions=questions if questions.exists() else None,
        )
    return bases


def get_base(name: str, data_dir: Path | None = None) -> KnowledgeBase:
    bases = knowledge_bases(data_dir)
    if name not in bases:
        raise KnowledgeBaseError(f"no knowledge base {name!r}")  # other users' names are not listed
    return bases[name]


def create_base(
    name: str, description: str = "", source_folder: Path | None = None, data_dir: Path | None = None
) -> KnowledgeBase:
    """A new (empty) knowledge base in the data folder; KnowledgeBaseError when the name is taken or bad."""
    check_name(name)
    if name in knowledge_bases(data_dir):
        raise KnowledgeBaseError(f"a knowledge base named {name!r} already exists")
    if source_folder is not None and not Path(source_folder).is_dir():
        raise KnowledgeBaseError(f"source folder {source_folder} is not a folder")
    folder = knowledge_dir(data_dir) / name
    (folder / "files").mkdir(parents=True, exist_ok=True)
    config = {
        "name": name,
        "description": description,
        "source_folder": str(source_folder) if source_folder else None,
    }
    (folder / "kb.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    return get_base(name, data_dir)


def ingest_base(name: str, data_dir: Path | None = None) -> IngestReport:
    """Indexes the knowledge base's documents (incrementally): the one ingestion the asset and the app run."""
    base = get_base(name, data_dir)
    return KnowledgeIndex(name, data_dir).ingest(base.sources())


def evaluate_base(name: str, data_dir: Path | None = None) -> list[dict[str, Any]]:
    """hit@k and MRR of the knowledge base's question set (empty without one); kept in quality.json."""
    from vlm_pipelines.knowledge.quality import evaluate, load_questions

    base = get_base(name, data_dir)
    if base.questions is None or not base.questions.exists():
        rows: list[dict[str, Any]] = []
    else:
        rows = evaluate(KnowledgeIndex(name, data_dir), load_questions(base.questions))
    path = knowledge_dir(data_dir) / name / QUALITY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


def quality_rows(name: str, data_dir: Path | None = None) -> list[dict[str, Any]]:
    path = knowledge_dir(data_dir) / name / QUALITY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
