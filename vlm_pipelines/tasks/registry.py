"""The task registry: every `registry/tasks/*.yaml` entry, validated, by task name.

A file holds one task (a mapping) or several (a list of mappings); the file name does not matter, the
`name` key is the id. Tasks the pipeline generates (the chat-feedback tasks) are written to
`<data dir>/tasks/*.yaml` and join the registry the same way. `task_for_dataset` makes a task for a dataset
that has no entry.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_pipelines.readers import detect_format
from vlm_pipelines.registry_files import Registry, join_generated, load_registry, validate_entry
from vlm_pipelines.tasks.config import DatasetSpec, TaskConfig
from vlm_pipelines.transliteration import transliterate

DEFAULT_AD_HOC_METRICS: tuple[str, ...] = ("anls", "exact_match", "cer")


def parse_task(entry: Any, source: str) -> TaskConfig:
    """Validates one entry; one RegistryError line naming `source`, each key path and its fix."""
    return validate_entry(TaskConfig, entry, source, "task")


def generated_tasks_dir() -> Path:
    """Where generated tasks (chat feedback, --set variants, --dataset folders) are written."""
    from vlm_pipelines import settings

    return settings.data_dir() / "tasks"


def load_task_registry(folder: Path | None = None) -> Registry[TaskConfig]:
    """Every task of `<registry dir>/tasks/*.yaml` (or of `folder`) by name, plus, by default, the generated
    tasks of `<data dir>/tasks/`; broken ones in `.errors`. A generated task never replaces a registry one."""
    registry = load_registry("tasks", "task", parse_task, folder)
    if folder is None:
        join_generated(registry, load_registry("tasks", "task", parse_task, generated_tasks_dir()))
    return registry


def sanitize_task_name(text: str) -> str:
    """A valid task name from free text: lowercase, Cyrillic transliterated, others -> `_`."""
    lowered = transliterate(text)
    name = re.sub(r"[^a-z0-9_-]+", "_", lowered).strip("_-")[:64].strip("_-")
    return name or f"dataset_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _name_source(path: Path) -> str:
    """A folder names the dataset; so does a file's stem, unless it is a folder format's fixed file name."""
    if path.is_dir() or path.stem in {"annotation", "manifest"}:
        return (path if path.is_dir() else path.parent).name
    return path.stem


def ad_hoc_task_name(path: Path) -> str:
    """`<folder name>-<6 hex of the absolute path>`: two folders with the same name never share results."""
    digest = hashlib.sha256(str(Path(os.path.abspath(path))).encode()).hexdigest()[:6]
    return f"{sanitize_task_name(_name_source(path))[:56]}-{digest}"


def task_for_dataset(
    path: Path,
    metrics: Sequence[str] | None = None,
    name: str | None = None,
    encoding: str | None = None,
) -> TaskConfig:
    """A task for a dataset without a registry entry: format detected, metrics default to anls, exact_match,
    cer, text encoding detected unless given. Its name is the folder name plus a hash of the absolute path
    (see `ad_hoc_task_name`)."""
    path = Path(os.path.abspath(path))
    entry = {
        "name": name if name is not None else ad_hoc_task_name(path),
        "description": f"ad hoc task for {path}",
        "dataset": DatasetSpec(path=str(path), format=detect_format(path), encoding=encoding).model_dump(
            exclude_none=True
        ),
        "metrics": list(metrics) if metrics is not None else list(DEFAULT_AD_HOC_METRICS),
    }
    return parse_task(entry, f"ad hoc dataset {path}")
