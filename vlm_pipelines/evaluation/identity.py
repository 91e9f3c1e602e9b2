"""The one place that says what identifies a number. No other module builds a key.

- A **sample set**: the task config after every override, the content hash of the task's stored dataset, and
  the exact sample ids selected (`--max-samples N` is a declared selection: the first N by sample id).
- A **model**: its registry name, model id, its package version and those of every package it uses, and its
  params with what their `auto` settings resolved to.
- A **prompt** (the prompt hash) and a **generation config** (its hash).

`PredictionKey` keys each stored answer (so answers are reused per sample whatever the sample set),
`manifest_id` keys one model's predictions of one sample set, and `result_id` keys an archived result (the
manifest plus the task config that scored it). Plain Python, cheap: loading the definitions calls the
code-version functions at the bottom.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

KEY_COLUMNS = ("model_id", "package_version", "params_hash", "prompt_hash", "config_hash")


def content_hash(payload: Any, length: int = 16) -> str:
    """Hex sha256 of `payload` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- the model ----------------------------------------------------------------------------------------


def params_hash(params: Mapping[str, Any], resolved: Mapping[str, str] | None = None) -> str:
    """16 hex chars over the entry's params and what their `auto` settings resolved to here (OCR engine,
    dtype, device, the versions of packages it uses): installing Tesseract, say, gives another hash."""
    return content_hash({"params": dict(params), "resolved": dict(resolved or {})})


class ModelIdentity(_Record):
    """What answers: a registry entry's model with the exact code and settings it ran with."""

    name: str
    model_id: str
    package: str
    package_version: str
    package_versions: dict[str, str]  # every package whose code answers (its own included)
    params: dict[str, Any]
    resolved: dict[str, str]  # what `auto` resolved to
    limitations: tuple[str, ...] = ()

    @property
    def identity_settings(self) -> dict[str, str]:
        """What keys the answers besides the package version: the resolved settings and the version of each
        other package the model uses."""
        uses = {f"uses {p}": v for p, v in sorted(self.package_versions.items()) if p != self.package}
        return {**self.resolved, **uses}

    @property
    def params_hash(self) -> str:
        return params_hash(self.params, self.identity_settings)


def model_identity(
    entry: Any,
    resolution: Any | None = None,
    *,
    package_version: str | None = None,
    package_versions: Mapping[str, str] | None = None,
) -> ModelIdentity:
    """The identity of registry entry `entry` here (or, with the versions and resolution a release tag's
    environment reported, there). `resolution` defaults to what the entry's settings resolve to here."""
    from model_interface import get_spec

    spec = get_spec(entry.model)
    resolution = resolution if resolution is not None else spec.resolution(entry.params)
    return ModelIdentity(
        name=entry.name,
        model_id=spec.model_id,
        package=spec.package,
        package_version=package_version or spec.version,
        package_versions=dict(package_versions if package_versions is not None else spec.versions),
        params=dict(entry.params),
        resolved=dict(resolution.settings),
        limitations=tuple(resolution.limitations),
    )


# --- the sample set --------------------------------------------------------------------------------


def task_hash(task: Any) -> str:
    """The task config after every override (its YAML fields, as validated). Fields left at their default are
    not hashed, so a new setting whose default keeps the old behaviour keeps every existing key."""
    return content_hash(task.model_dump(mode="json", exclude_defaults=True))


class SampleSet(_Record):
    """Which samples a number was computed on."""

    task: str
    task_hash: str
    dataset_hash: str  # the content of the task's whole stored dataset
    selection: str  # "all", or "first N by sample_id"
    sample_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        return content_hash([self.task_hash, self.dataset_hash, sorted(self.sample_ids)])

    @property
    def n(self) -> int:
        return len(self.sample_ids)

    @property
    def label(self) -> str:
        return f"{self.n} samples ({self.selection}) of dataset {self.dataset_hash[:12]}"


def selected_ids(sample_ids: Sequence[str], max_samples: int | None) -> tuple[tuple[str, ...], str]:
    """The declared, deterministic selection `--max-samples` makes: the first N sample ids in sorted order."""
    ordered = sorted(sample_ids)
    if max_samples is None or max_samples >= len(ordered):
        return tuple(ordered), "all"
    return tuple(ordered[:max_samples]), f"first {max_samples} by sample_id"


def sample_set(task: Any, dataset_hash: str, sample_ids: Sequence[str], max_samples: int | None) -> SampleSet:
    ids, selection = selected_ids(sample_ids, max_samples)
    return SampleSet(
        task=task.name,
        task_hash=task_hash(task),
        dataset_hash=dataset_hash,
        selection=selection,
        sample_ids=ids,
    )


# --- predictions and results -----------------------------------------------------------------------


class PredictionKey(_Record):
    """What keys one stored answer (the columns of every prediction row)."""

    model_id: str
    package_version: str
    params_hash: str
    prompt_hash: str
    config_hash: str

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in KEY_COLUMNS}


def prediction_key(model: ModelIdentity, prompt_hash: str, config_hash: str) -> PredictionKey:
    return PredictionKey(
        model_id=model.model_id,
        package_version=model.package_version,
        params_hash=model.params_hash,
        prompt_hash=prompt_hash,
        config_hash=config_hash,
    )


def manifest_id(model_name: str, key: PredictionKey, samples: SampleSet) -> str:
    """One model entry's predictions of one sample set."""
    return content_hash([model_name, key.as_dict(), samples.key])


def result_id(model_name: str, key: PredictionKey, samples: SampleSet) -> str:
    """An archived result: the predictions scored under the task config the sample set carries."""
    return content_hash(["result", model_name, key.as_dict(), samples.key, samples.task])


# --- variants (`--model-param`, `--gen`, `--set`) ----------------------------------------------------


def variant_name(base: str, overrides: Mapping[str, Any]) -> str:
    """`<base>-<8 hex of the overrides>`: a registry entry changed on the command line is its own entry,
    with its own partitions, results and name, so it never takes over the base entry's."""
    return f"{base}-{content_hash(dict(overrides), 8)}"


# --- Dagster code versions, one per partition dimension ---------------------------------------------


def task_code_version(task: Any, repo_root: Any) -> str:
    """Changes when the task's config or its prompt changes (and only that task's partitions go stale)."""
    try:
        prompt = task.prompt_hash(repo_root)
    except (OSError, ValueError) as error:  # e.g. a missing prompt collection: fails that task's run only
        prompt = f"unreadable:{error}"
    return content_hash([task_hash(task), prompt])


def model_code_version(entry: Any) -> str:
    """Changes when a package the model runs changes version, or the entry's params change."""
    from model_interface import UnknownModelError, get_spec

    try:
        versions = sorted(get_spec(entry.model).versions.items())
    except UnknownModelError:
        versions = [("not-installed", entry.model)]
    return content_hash([entry.model, versions, entry.params, entry.generation.model_dump(mode="json")])
