"""What a task is: the pydantic models behind one `registry/tasks/*.yaml` entry.

name: demo_mini_vqa                  # the id, also a Dagster partition key: [a-z0-9_-]+
dataset: {path: data/vlmhyperbench_sample/demo_mini}   # or synthetic: {...}
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
from typing import Any, Literal

from model_interface import GenerationConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vlm_pipelines.postprocess import check_steps
from vlm_pipelines.prompts.template import compile_template
from vlm_pipelines.readers import SUPPORTED_FORMATS
from vlm_pipelines.registry_files import RegistryError

# Metric names the metrics registry provides. Listed here so that validating a task (and loading the
# Dagster definitions) does not import every metric library; a test keeps the two in step.
KNOWN_METRICS: tuple[str, ...] = (
    "anls",
    "vqa_accuracy",
    "relaxed_accuracy",
    "ocrbench",
    "exact_match",
    "cer",
    "wer",
    "bleu",
    "json_valid",
    "json_field_precision",
    "json_field_recall",
    "json_field_f1",
    "json_field_f1_cer",
    "classification_accuracy",
    "kendall_tau",
    "spearman_rho",
    "positional_accuracy",
)
# Sample columns results can be grouped by; other names are read from each sample's metadata
# (e.g. `degradation`, `language`).
GROUPABLE_COLUMNS: tuple[str, ...] = ("doc_type", "field_name", "split")
METADATA_KEY_PATTERN = r"^[a-z_][a-z0-9_]*$"
TASK_NAME_PATTERN = r"^[a-z0-9_-]+$"
# The prompt keys each strategy uses (others may not be set), and the one it cannot do without.
_STRATEGY_KEYS = {
    "collection": ("collection",),
    "template": ("template",),
    "json_schema": ("fields", "json_schema", "instructions"),
}
_REQUIRED_PROMPT_KEY = {"collection": "collection", "template": "template"}


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


class DatasetSpec(_Strict):
    """Where the samples come from: a dataset `path` (repo-relative or absolute) or `synthetic` data."""

    path: str | None = None
    synthetic: SyntheticDataset | None = None
    format: str | None = None  # None: detected from the path

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


class PromptSpec(_Strict):
    """How a sample's prompt is built.

    - question: the dataset question as is.
    - collection: `collection` is a `prompt;doc_class_question_type[;cer]` CSV; its prompt for
      "<doc_type> <field_name>" replaces the question (rows without a key keep the question).
    - template: `template` is Jinja over question, doc_type, field_name, split, metadata, image_count.
    - json_schema: an extraction prompt listing `fields` (and `json_schema` when given); `instructions`
      replaces the default lead sentence.
    """

    strategy: Literal["question", "collection", "template", "json_schema"] = "question"
    system_prompt: str | None = None
    collection: str | None = None
    template: str | None = None
    fields: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    instructions: str | None = None

    @model_validator(mode="after")
    def _keys_match_strategy(self) -> PromptSpec:
        required = _REQUIRED_PROMPT_KEY.get(self.strategy)
        if required and not getattr(self, required):
            raise ValueError(f"strategy {self.strategy!r} needs the key '{required}'")
        for strategy, keys in _STRATEGY_KEYS.items():
            for key in keys:
                if strategy != self.strategy and getattr(self, key) is not None:
                    raise ValueError(
                        f"'{key}' is only used by strategy {strategy!r}, not {self.strategy!r}: "
                        f"remove it or change the strategy"
                    )
        if self.template is not None:
            compile_template(self.template)
        return self


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

    @field_validator("postprocess")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        check_steps(steps)
        return steps

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        unknown = [metric for metric in metrics if metric not in KNOWN_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known metrics: {', '.join(KNOWN_METRICS)}")
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
