"""The model registry: which models the pipeline evaluates, and with what settings (YAML).

The generation settings belong to the task (`generation:` in the task YAML, as lmms-eval's
`generation_kwargs`); a model entry may only override some of them or cap `max_new_tokens`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from model_interface import GenerationConfig, get_spec
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vlm_pipelines.registry_files import (
    Registry,
    RegistryError,
    join_generated,
    load_registry,
    validate_entry,
)

PARTITION_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "stop")


ModelRegistryError = RegistryError


def sanitize_partition_key(name: str) -> str:
    """A Dagster-safe key: no '|', ',' or '/' (they split multi-partition keys or make folders)."""
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip())
    key = re.sub(r"\.{2,}", ".", key).strip("._")
    if not key:
        raise ModelRegistryError(f"{name!r} has no usable characters for a partition key")
    return key


class GenerationOverride(BaseModel):
    """What a model entry (or `--gen`) changes in the task's generation config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_new_tokens_cap: int | None = Field(
        default=None, ge=1, le=32768, description="an upper bound on the task's max_new_tokens"
    )
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    stop: tuple[str, ...] | None = None

    def apply(self, base: GenerationConfig) -> GenerationConfig:
        changes = {key: getattr(self, key) for key in GENERATION_KEYS if getattr(self, key) is not None}
        config = GenerationConfig.model_validate({**base.model_dump(), **changes})
        if self.max_new_tokens_cap is not None and config.max_new_tokens > self.max_new_tokens_cap:
            config = GenerationConfig.model_validate(
                {**config.model_dump(), "max_new_tokens": self.max_new_tokens_cap}
            )
        return config

    def merged(self, changes: dict[str, Any]) -> GenerationOverride:
        """These overrides with `changes` on top; setting max_new_tokens lifts the cap."""
        merged = {**self.model_dump(exclude_none=True), **changes}
        if "max_new_tokens" in changes:
            merged.pop("max_new_tokens_cap", None)
        return GenerationOverride.model_validate(merged)


class EvaluatedModel(BaseModel):
    """One registry entry: a model id plus the params and generation overrides to evaluate it with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    generation: GenerationOverride = Field(default_factory=GenerationOverride)
    batch_size: int = Field(default=8, ge=1, le=1024)
    gpus: int | None = Field(
        default=None, ge=0, description="GPUs an inference run takes in a deployment (default: derived)"
    )
    demo: bool | list[str] = Field(
        default=False,
        description="in `vlmbench demo`: true on every demo task, or only on the demo tasks listed (a model "
        "too slow for all of them in the demo's time)",
    )
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_a_partition_key(cls, name: str) -> str:
        if not PARTITION_KEY_PATTERN.match(name) or ".." in name:
            raise ValueError(
                f"{name!r} cannot be a partition key; use letters, digits, '.', '_' and '-' "
                f"(for example {sanitize_partition_key(name)!r})"
            )
        return name

    def generation_for(self, task_generation: GenerationConfig) -> GenerationConfig:
        """The effective generation config on a task: the task's, then this entry's overrides and cap."""
        return self.generation.apply(task_generation)

    def with_params(self, params: dict[str, Any]) -> EvaluatedModel:
        """This entry with `params` merged over its own (`--model-param`)."""
        return self.model_copy(update={"params": {**self.params, **params}})

    def with_generation(self, changes: dict[str, Any]) -> EvaluatedModel:
        """This entry with generation overrides on top (`--gen`)."""
        return self.model_copy(update={"generation": self.generation.merged(changes)})


# Model packages that come with an extra only (`uv sync` installs the others). While one is missing, an entry
# whose model id no installed package registers may be one of its models: not installed, rather than broken.
OPTIONAL_MODEL_PACKAGES = {"model-vllm": "vllm"}


class ModelNotInstalledError(ValueError):
    """An entry's model id may come with the optional packages `needs`, which are not installed."""

    def __init__(self, message: str, needs: tuple[str, ...]) -> None:
        super().__init__(message)
        self.needs = needs


def missing_optional_packages() -> dict[str, str]:
    """The optional model packages that are not installed, with the extra that installs each."""
    from importlib.metadata import PackageNotFoundError, distribution

    missing = {}
    for package, extra in OPTIONAL_MODEL_PACKAGES.items():
        try:
            distribution(package)
        except PackageNotFoundError:
            missing[package] = extra
    return missing


def _known_model_id(entry: EvaluatedModel) -> None:
    from model_interface import discover

    specs = discover()
    if entry.model in specs:
        return
    missing = missing_optional_packages()
    if missing:
        needs = tuple(missing)
        install = "; ".join(
            f"uv sync --extra {extra}, or pip install 'vlm-pipelines[{extra}]'" for extra in missing.values()
        )
        raise ModelNotInstalledError(
            f"model: no installed package registers model id {entry.model!r}, and {', '.join(needs)} is not "
            f"installed. Fix: install it ({install}), or use a model id that `vlmbench models` lists",
            needs=needs,
        )
    known = ", ".join(specs) or "none (is a model package installed?)"
    raise ValueError(
        f"model: unknown model id {entry.model!r}. Fix: use a model id that `vlmbench models` lists "
        f"({known}), or install the package that registers it"
    )


def parse_model_entry(raw: Any, source: str) -> EvaluatedModel:
    return validate_entry(EvaluatedModel, raw, source, "model entry", check=_known_model_id)


def load_model_registry(folder: Path | None = None) -> Registry[EvaluatedModel]:
    """Every entry of `<registry dir>/models/*.yaml` (or of `folder`) by name, plus, by default, the entries
    made on the command line (`<data dir>/models/`); broken entries are listed in `.errors`."""
    registry = load_registry("models", "model", parse_model_entry, folder)
    generated = generated_models_dir()
    if folder is None and generated.is_dir():
        join_generated(registry, load_registry("models", "model", parse_model_entry, generated))
    return registry


def generated_models_dir() -> Path:
    """Where model entries made on the command line (--model-param, --gen) are written."""
    from vlm_pipelines import settings

    return settings.data_dir() / "models"


def ad_hoc_model(model_id: str, params: dict[str, Any] | None = None, **settings_: Any) -> EvaluatedModel:
    """An entry for a model id that is not in the registry (`vlmbench run --model ID`)."""
    return EvaluatedModel(
        name=sanitize_partition_key(model_id), model=model_id, params=params or {}, **settings_
    )


class ModelNotRunnableError(RuntimeError):
    """A registered model that cannot run on this machine (no CUDA for vLLM, a missing engine)."""


def ensure_runnable(entry: EvaluatedModel) -> None:
    availability = get_spec(entry.model).availability(entry.params)
    if not availability.ok:
        raise ModelNotRunnableError(
            f"model {entry.name!r} ({entry.model}) cannot run here: {availability.reason}"
        )
