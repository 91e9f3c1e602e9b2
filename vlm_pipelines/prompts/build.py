"""Builds each sample's prompt from the task's prompt strategy, and hashes that configuration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from vlm_pipelines.plugins import PROMPT_BUILDERS_GROUP, callable_identity, load_callable
from vlm_pipelines.prompts.collection import collection_key, load_prompt_collection
from vlm_pipelines.prompts.json_extraction import DEFAULT_INSTRUCTIONS, extraction_prompt, schema_fields
from vlm_pipelines.prompts.spec import PromptSpec
from vlm_pipelines.prompts.template import TEMPLATE_VARIABLES, compile_template

if TYPE_CHECKING:
    import polars as pl

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


def _resolve(path_text: str, repo_root: Path, task_name: str, key: str) -> Path:
    path = Path(path_text)
    resolved = path if path.is_absolute() else Path(repo_root) / path
    if not resolved.is_file():
        raise FileNotFoundError(f"task {task_name!r}: {key} {path_text!r} -> {resolved} is not a file")
    return resolved


def prompt_hash(
    spec: PromptSpec, repo_root: Path, task_name: str, extra: dict[str, Any] | None = None
) -> str:
    """sha256 over the strategy and its full configuration content (files by their bytes, a builder by
    its code), plus `extra` (what else the caller sends the model with the prompt). A chosen variant
    (`spec.variant`) is hashed as the template it resolves to, plus its name."""
    variant = spec.variant
    spec = spec.resolved()
    content: dict[str, Any] = {"strategy": spec.strategy, "system_prompt": spec.system_prompt or ""}
    if variant is not None:
        content["variant"] = variant
    content |= extra or {}
    if spec.strategy == "builder" and spec.builder is not None:
        content["builder"] = callable_identity(load_callable(spec.builder, PROMPT_BUILDERS_GROUP))
    if spec.strategy == "collection" and spec.collection is not None:
        collection = _resolve(spec.collection, repo_root, task_name, "prompt.collection")
        content["collection_sha256"] = hashlib.sha256(collection.read_bytes()).hexdigest()
    if spec.strategy == "template":
        content["template"] = spec.template
    if spec.strategy == "json_schema":
        content["fields"] = spec.fields
        content["json_schema"] = spec.json_schema
        content["instructions"] = spec.instructions or DEFAULT_INSTRUCTIONS
    text = json.dumps(content, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _variables(row: dict[str, Any]) -> dict[str, Any]:
    """What a template or a builder may use (TEMPLATE_VARIABLES): the reference answers are not offered."""
    return {
        "question": row["question"],
        "doc_type": row["doc_type"],
        "field_name": row["field_name"],
        "split": row["split"],
        "metadata": json.loads(row["metadata"]),
        "image_count": len(row["image_paths"]),
        "sample_id": row["sample_id"],
    }


def _template_prompts(spec: PromptSpec, task_name: str, rows: list[dict[str, Any]]) -> list[str]:
    assert spec.template is not None
    try:
        template = compile_template(spec.template)
    except ValueError as error:
        raise ValueError(f"task {task_name!r}: prompt.template: {error}") from error
    prompts = []
    for row in rows:
        try:
            prompts.append(template.render(_variables(row)))
        except jinja2.TemplateError as error:
            raise ValueError(
                f"task {task_name!r}: prompt.template failed for sample {row['sample_id']}: {error}; "
                f"variables available: {', '.join(TEMPLATE_VARIABLES)}"
            ) from error
    return prompts


def _builder_prompts(spec: PromptSpec, task_name: str, rows: list[dict[str, Any]]) -> list[str]:
    assert spec.builder is not None
    builder = load_callable(spec.builder, PROMPT_BUILDERS_GROUP)
    prompts = []
    for row in rows:
        prompt = builder(_variables(row))
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(
                f"task {task_name!r}: prompt.builder {spec.builder!r} returned {prompt!r} for sample "
                f"{row['sample_id']}; a builder returns the prompt text"
            )
        prompts.append(prompt)
    return prompts


def _fields_for(
    spec: PromptSpec, task_name: str, row: dict[str, Any], fields_by_doc_type: dict[str, list[str]]
) -> list[str]:
    """Fields to extract: the task's `fields`, its schema's properties, the sample's metadata.fields,
    or every field_name of the sample's doc_type in this sample set."""
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
        f"task {task_name!r}: no fields to extract for sample {row['sample_id']}; "
        f"set prompt.fields or prompt.json_schema.properties"
    )


def _json_schema_prompts(spec: PromptSpec, task_name: str, rows: list[dict[str, Any]]) -> list[str]:
    fields_by_doc_type: dict[str, list[str]] = {}
    for row in rows:
        known = fields_by_doc_type.setdefault(row["doc_type"], [])
        if row["field_name"] and row["field_name"] not in known:
            known.append(row["field_name"])
    return [
        extraction_prompt(
            _fields_for(spec, task_name, row, fields_by_doc_type), spec.json_schema, spec.instructions
        )
        for row in rows
    ]


def build_prompts(
    spec: PromptSpec,
    samples: pl.DataFrame,
    repo_root: Path,
    task_name: str,
    hash_extra: dict[str, Any] | None = None,
) -> PromptSet:
    """One prompt per sample (same order as `samples`) following `spec`; `hash_extra` goes into the hash."""
    hashed_spec, spec = spec, spec.resolved()
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
        collection = load_prompt_collection(
            _resolve(spec.collection, repo_root, task_name, "prompt.collection")
        )
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
        prompts = _template_prompts(spec, task_name, row_dicts)
    elif spec.strategy == "builder":
        prompts = _builder_prompts(spec, task_name, row_dicts)
    else:
        prompts = _json_schema_prompts(spec, task_name, row_dicts)
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
        prompt_hash=prompt_hash(hashed_spec, repo_root, task_name, hash_extra),
        strategy=spec.strategy,
        fallback_count=fallbacks,
        missing_keys=tuple(missing),
    )
