"""What a task is: the pydantic models behind one `registry/tasks/*.yaml` entry.

name: demo_mini_vqa                  # the id, also a Dagster partition key: [a-z0-9_-]+
dataset: {path: data/vlmhyperbench_sample/demo_mini}   # or synthetic: {...}; pages: all | first
prompt: {strategy: question}         # question | collection | template | json_schema
generation: {max_new_tokens: 32}     # the task's decoding settings; a model entry may override or cap them
postprocess: [strip_label, normalize_whitespace]
answer_type: text                    # text | label | json | order: how an answer is extracted and parsed
metrics: [anls, exact_match, cer]
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from model_interface import GenerationConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vlm_pipelines.postprocess import check_steps
from vlm_pipelines.prompts.spec import PromptSpec
from vlm_pipelines.readers import SUPPORTED_FORMATS
from vlm_pipelines.registry_files import RegistryError

# Sample columns results can be grouped by; other names are read from each sample's metadata
# (e.g. `degradation`, `language`).
GROUPABLE_COLUMNS: tuple[str, ...] = ("doc_type", "field_name", "split")
METADATA_KEY_PATTERN = r"^[a-z_][a-z0-9_]*$"
TASK_NAME_PATTERN = r"^[a-z0-9_-]+$"

TaskConfigError = RegistryError
AnswerType = Literal["text", "label", "json", "order"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyntheticDataset(_Strict):
    """Parameters for `vlm_pipelines.synthetic.generate_task_dataset`."""

    variant: Literal["field_vqa", "json_extraction", "classification", "page_order"]
    language: Literal["en", "ru"] = "en"
    n_documents: int = Field(ge=1, le=100_000)
    seed: int = 0
    degradations: list[str] = Field(default_factory=list)

    def params_hash(self) -> str:
        """16 hex chars identifying these parameters (the generator's output folder name)."""
        text = json.dumps(self.model_dump(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class ExpectedDataset(_Strict):
    """What the official copy of a benchmark split holds, so that a wrong, partial or re-encoded copy is
    flagged: its row count, and its content hash per layout (`ReadResult.dataset_hash`, keyed by reader
    format: hf_parquet, vlmevalkit_tsv). An empty hash is not pinned yet: the check prints the computed one."""

    rows: int | None = Field(default=None, ge=1)
    content_hash: dict[str, str] = Field(default_factory=dict)

    @field_validator("content_hash")
    @classmethod
    def _known_layouts(cls, hashes: dict[str, str]) -> dict[str, str]:
        unknown = [name for name in hashes if name not in SUPPORTED_FORMATS]
        if unknown:
            raise ValueError(
                f"content_hash keys must be dataset formats ({', '.join(SUPPORTED_FORMATS)}): {unknown}"
            )
        bad = [name for name, value in hashes.items() if value and not re.fullmatch(r"[0-9a-f]{64}", value)]
        if bad:
            raise ValueError(f"content_hash of {bad} is not a sha256 (64 lowercase hex characters)")
        return hashes


class DatasetSpec(_Strict):
    """Where the samples come from: a dataset `path` (repo-relative or absolute) or `synthetic` data."""

    path: str | None = None
    synthetic: SyntheticDataset | None = None
    format: str | None = None  # None: detected from the path
    # A multi-page image (multi-page TIFF, ...): "all" its pages become the sample's images, or the "first".
    pages: Literal["all", "first"] = "all"
    # The text encoding of the annotation files (e.g. cp1251); None: detected (see readers/text_encoding.py).
    encoding: str | None = None
    # The official split's row count and content hash (benchmarks); checked when the dataset is prepared.
    expected: ExpectedDataset | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        from vlm_pipelines.readers.text_encoding import codec_name

        return codec_name(value) if value is not None else None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in SUPPORTED_FORMATS:
            raise ValueError(
                f"unknown format {value!r}; use one of {', '.join(SUPPORTED_FORMATS)} or leave it out"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.synthetic is None):
            raise ValueError(
                "give exactly one of 'path' (a dataset folder or file) or 'synthetic' (generator settings)"
            )
        return self


class Filters(_Strict):
    """Keep only samples whose doc_type / field_name is listed (None: keep all)."""

    doc_type: list[str] | None = None
    field_name: list[str] | None = None


class TaskConfig(_Strict):
    """One evaluation task: dataset, selection, prompt, answer post-processing and metrics."""

    name: str = Field(pattern=TASK_NAME_PATTERN, max_length=64)
    description: str = ""
    dataset: DatasetSpec
    split: str | None = None
    filters: Filters = Field(default_factory=Filters)
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    postprocess: list[str] = Field(default_factory=list)
    # How the answer is read after post-processing (see `vlm_pipelines.answers`): text as is, one of
    # `labels` (or the sample's metadata labels/options), a JSON object, or a page permutation.
    answer_type: AnswerType = "text"
    labels: list[str] | None = None
    metrics: list[str] = Field(min_length=1)
    group_by: list[str] = Field(default_factory=lambda: ["doc_type", "field_name"])
    max_samples: int | None = Field(default=None, ge=1)
    demo: bool = False  # included in `vlmbench demo`

    def answer_settings(self) -> dict[str, Any]:
        """What pipeline models receive with the prompt besides its text (request hints): the answer type
        and the labels. Part of the prompt hash; empty for plain text tasks, whose hash it leaves as is."""
        if self.answer_type == "text" and not self.labels:
            return {}
        return {"answer_type": self.answer_type, "labels": self.labels}

    def prompts(self, samples: Any, repo_root: Path):
        """The prompt of every sample (`vlm_pipelines.prompts.PromptSet`)."""
        from vlm_pipelines.prompts import build_prompts

        return build_prompts(self.prompt, samples, repo_root, self.name, self.answer_settings())

    def prompt_hash(self, repo_root: Path) -> str:
        from vlm_pipelines.prompts import prompt_hash

        return prompt_hash(self.prompt, repo_root, self.name, self.answer_settings())

    @field_validator("postprocess")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        check_steps(steps)
        return steps

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        from vlm_pipelines.metrics import list_metrics

        known = list_metrics()
        unknown = [metric for metric in metrics if metric not in known]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known metrics: {', '.join(known)}")
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric listed twice in {metrics}")
        return metrics

    @field_validator("group_by")
    @classmethod
    def _groupable(cls, columns: list[str]) -> list[str]:
        unknown = [
            column
            for column in columns
            if column not in GROUPABLE_COLUMNS and not re.match(METADATA_KEY_PATTERN, column)
        ]
        if unknown:
            raise ValueError(
                f"cannot group by {unknown}; use {', '.join(GROUPABLE_COLUMNS)} or a metadata key "
                "(lowercase letters, digits and '_')"
            )
        return columns
