"""Builds each sample's prompt from the task's prompt strategy, and hashes that configuration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from vlm_pipelines.prompts.collection import collection_key, load_prompt_collection
from vlm_pipelines.prompts.json_extraction import DEFAULT_INSTRUCTIONS, extraction_prompt, schema_fields
from vlm_pipelines.prompts.template import TEMPLATE_VARIABLES, compile_template

if TYPE_CHECKING:  # tasks.config imports prompts.template: no runtime import the other way
    import polars as pl

    from vlm_pipelines.tasks.config import TaskConfig

PROMPT_COLUMNS: tuple[str, ...] = ("sample_id", "prompt", "system_prompt")  # all strings


@dataclass(frozen=True)
class PromptSet:
    """Prompts by sample, plus what made them.

    `prompts` has columns sample_id, prompt, system_prompt ("" when the task has none).
    `prompt_hash` changes whenever any prompt text or setting changes (collection file bytes, template,
    system prompt, schema). `fallback_count` counts samples that kept the dataset question because the
    collection had no prompt for their key; `missing_keys` lists those keys.
    """

    prompts: pl.DataFrame
    prompt_hash: str
    strategy: str
    fallback_count: int = 0
    missing_keys: tuple[str, ...] = ()


def _resolve(path_text: str, repo_root: Path, task: TaskConfig, key: str) -> Path:
    path = Path(path_text)
    resolved = path if path.is_absolute() else Path(repo_root) / path
    if not resolved.is_file():
        raise FileNotFoundError(f"task {task.name!r}: {key} {path_text!r} -> {resolved} is not a file")
    return resolved


def prompt_hash(task: TaskConfig, repo_root: Path) -> str:
    """sha256 over the strategy and its full configuration content (files by their bytes), plus the task's
    answer type and labels: pipeline models receive those as request hints."""
    spec = task.prompt
    content: dict[str, Any] = {"strategy": spec.strategy, "system_prompt": spec.system_prompt or ""}
    if task.answer_type != "text" or task.labels:
        content["answer_type"] = task.answer_type
        content["labels"] = task.labels
    if spec.strategy == "collection" and spec.collection is not None:
        collection = _resolve(spec.collection, repo_root, task, "prompt.collection")
        content["collection_sha256"] = hashlib.sha256(collection.read_bytes()).hexdigest()
    if spec.strategy == "template":
        content["template"] = spec.template
    if spec.strategy == "json_schema":
        content["fields"] = spec.fields
        content["json_schema"] = spec.json_schema
        content["instructions"] = spec.instructions or DEFAULT_INSTRUCTIONS
    text = json.dumps(content, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _template_prompts(task: TaskConfig, rows: list[dict[str, Any]]) -> list[str]:
    assert task.prompt.template is not None
    try:
        template = compile_template(task.prompt.template)
    except ValueError as error:
        raise ValueError(f"task {task.name!r}: prompt.template: {error}") from error
    prompts = []
    for row in rows:
        context = {
            "question": row["question"],
            "doc_type": row["doc_type"],
            "field_name": row["field_name"],
            "split": row["split"],
            "metadata": json.loads(row["metadata"]),
            "image_count": len(row["image_paths"]),
            "sample_id": row["sample_id"],
        }
        try:
            prompts.append(template.render(context))
        except jinja2.TemplateError as error:
            raise ValueError(
                f"task {task.name!r}: prompt.template failed for sample {row['sample_id']}: {error}; "
                f"variables available: {', '.join(TEMPLATE_VARIABLES)}"
            ) from error
    return prompts


def _fields_for(task: TaskConfig, row: dict[str, Any], fields_by_doc_type: dict[str, list[str]]) -> list[str]:
    """Fields to extract: the task's `fields`, its schema's properties, the sample's metadata.fields,
    or every field_name of the sample's doc_type in this sample set."""
    spec = task.prompt
    if spec.fields:
        return spec.fields
    if schema_fields(spec.json_schema):
        return schema_fields(spec.json_schema)
    from_metadata = json.loads(row["metadata"]).get("fields")
    if isinstance(from_metadata, dict | list) and from_metadata:
        return [str(field) for field in from_metadata]
    if fields_by_doc_type.get(row["doc_type"]):
        return fields_by_doc_type[row["doc_type"]]
    raise ValueError(
        f"task {task.name!r}: no fields to extract for sample {row['sample_id']}; "
        f"set prompt.fields or prompt.json_schema.properties"
    )


def _json_schema_prompts(task: TaskConfig, rows: list[dict[str, Any]]) -> list[str]:
    fields_by_doc_type: dict[str, list[str]] = {}
    for row in rows:
        known = fields_by_doc_type.setdefault(row["doc_type"], [])
        if row["field_name"] and row["field_name"] not in known:
            known.append(row["field_name"])
    return [
        extraction_prompt(
            _fields_for(task, row, fields_by_doc_type), task.prompt.json_schema, task.prompt.instructions
        )
        for row in rows
    ]


def build_prompts(task: TaskConfig, samples: pl.DataFrame, repo_root: Path) -> PromptSet:
    """One prompt per sample (same order as `samples`) following `task.prompt`."""
    spec = task.prompt
    rows = samples.select(
        "sample_id", "question", "doc_type", "field_name", "split", "metadata", "image_paths"
    )
    row_dicts = list(rows.iter_rows(named=True))
    missing: list[str] = []
    fallbacks = 0
    if spec.strategy == "question":
        prompts = [row["question"] for row in row_dicts]
    elif spec.strategy == "collection":
        assert spec.collection is not None
        collection = load_prompt_collection(_resolve(spec.collection, repo_root, task, "prompt.collection"))
        prompts = []
        for row in row_dicts:
            key = collection_key(row["doc_type"], row["field_name"])
            if key in collection:
                prompts.append(collection[key])
            else:
                prompts.append(row["question"])
                fallbacks += 1
                if key not in missing:
                    missing.append(key)
    elif spec.strategy == "template":
        prompts = _template_prompts(task, row_dicts)
    else:
        prompts = _json_schema_prompts(task, row_dicts)
    import polars as pl  # lazy: loading the task registry (and Dagster definitions) needs no polars

    frame = pl.DataFrame(
        {
            "sample_id": [row["sample_id"] for row in row_dicts],
            "prompt": prompts,
            "system_prompt": [spec.system_prompt or ""] * len(row_dicts),
        },
        schema={name: pl.String for name in PROMPT_COLUMNS},
    )
    return PromptSet(
        prompts=frame,
        prompt_hash=prompt_hash(task, repo_root),
        strategy=spec.strategy,
        fallback_count=fallbacks,
        missing_keys=tuple(missing),
    )
