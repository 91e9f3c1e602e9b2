"""The evaluation steps the Dagster assets (and tests) call: dataset, predictions, scores, report.

Each step reads its inputs from, and writes its outputs to, the data folder, so a step can run in any
process, in any order a scheduler picks, and be traced afterwards. Nothing here imports Dagster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from model_interface import GenerationConfig, Resolution, VisionLanguageModel, get_spec, shared_model

from vlm_pipelines import settings
from vlm_pipelines.identity import identity_settings
from vlm_pipelines.inference import (
    PredictionKey,
    PredictionRun,
    PredictionStore,
    Progress,
    params_hash,
    per_second,
    request_hints,
    run_predictions,
    speed_summary,
)
from vlm_pipelines.model_registry import EvaluatedModel
from vlm_pipelines.results import ArchivedResult, archive_result
from vlm_pipelines.schemas import Provenance, ReadResult, dataset_hash
from vlm_pipelines.scoring import score_samples
from vlm_pipelines.tasks import TaskConfig, load_task_dataset

DEFAULT_MAX_QUARANTINE_SHARE = 0.2


class ModelNotRunnableError(RuntimeError):
    pass


@dataclass(frozen=True)
class EvaluationPaths:
    root: Path

    def dataset(self, task: str) -> Path:
        return self.root / "datasets" / task

    def predictions(self, model_name: str, task: str) -> Path:
        return self.root / "predictions" / model_name / task

    def report(self, model_name: str, task: str) -> Path:
        return self.root / "reports" / task / model_name

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def leaderboard(self) -> Path:
        return self.root / "reports" / "leaderboard"

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def default_paths() -> EvaluationPaths:
    return EvaluationPaths(settings.data_dir())


# --- dataset ---------------------------------------------------------------------------------------


class DatasetError(ValueError):
    """A task's dataset cannot be evaluated (empty, not prepared, or it failed a blocking check)."""


@dataclass(frozen=True)
class DatasetCheck:
    """One blocking check of a prepared dataset, with a one-line summary that gives the numbers."""

    name: str
    passed: bool
    summary: str
    metadata: dict


def _reasons_text(reasons: dict[str, int]) -> str:
    return ", ".join(f"{reason} x{count}" for reason, count in reasons.items()) or "none"


def dataset_checks(result: ReadResult, max_quarantine_share: float) -> list[DatasetCheck]:
    """The schema check and the quarantine-share check of a read dataset."""
    from vlm_pipelines.schemas import SampleSchema, schema_problems

    problems = schema_problems(result.samples, SampleSchema)
    total = result.samples.height + result.quarantine.height
    share = result.quarantine.height / total if total else 0.0
    reasons = result.quarantine_reasons()
    quarantine_summary = (
        f"{result.quarantine.height} of {total} rows quarantined ({share:.1%}; bound {max_quarantine_share:.0%})"
        f": {_reasons_text(reasons)}"
    )
    return [
        DatasetCheck(
            "schema",
            not problems,
            "valid" if not problems else f"{len(problems)} schema problem(s): {problems[0][:200]}",
            {"problems": problems},
        ),
        DatasetCheck(
            "quarantine_share",
            share <= max_quarantine_share,
            quarantine_summary,
            {
                "share": share,
                "bound": max_quarantine_share,
                "quarantined": result.quarantine.height,
                "rows": total,
            },
        ),
    ]


def prepare_dataset(
    task: TaskConfig,
    paths: EvaluationPaths,
    max_samples: int | None = None,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> tuple[ReadResult, list[DatasetCheck]]:
    """Reads the task's dataset (generating synthetic documents if needed), stores the tables and a
    `dataset.json` record (format, encoding, counts, quarantine reasons, checks). An empty dataset is a
    DatasetError for this task; its stale tables are removed so nothing evaluates them."""
    result = load_task_dataset(task, settings.REPO_ROOT, paths.cache)
    if max_samples is not None and result.samples.height > max_samples:
        result = result.with_samples(result.samples.sort("sample_id").head(max_samples))
    checks = dataset_checks(result, max_quarantine_share)
    folder = paths.dataset(task.name)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "format": result.format,
        "source": str(result.source),
        "hash": result.dataset_hash,
        "encoding": result.encoding,
        "records": result.records,
        "rows": result.samples.height,
        "quarantined": result.quarantine.height,
        "quarantine_reasons": result.quarantine_reasons(),
        "checks": {check.name: {"passed": check.passed, "summary": check.summary} for check in checks},
    }
    result.quarantine.write_parquet(folder / "quarantine.parquet")
    if result.samples.height == 0:
        (folder / "samples.parquet").unlink(missing_ok=True)
        message = (
            f"task {task.name!r}: the dataset {result.source} has no usable rows "
            f"({result.records} read, {result.quarantine.height} quarantined: "
            f"{_reasons_text(result.quarantine_reasons())})"
        )
        record["error"] = message
        (folder / "dataset.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
        raise DatasetError(message)
    result.samples.write_parquet(folder / "samples.parquet")
    (folder / "dataset.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return result, checks


def dataset_record(task_name: str, paths: EvaluationPaths) -> dict | None:
    """The `dataset.json` of the task's last preparation, or None."""
    path = paths.dataset(task_name) / "dataset.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def failed_dataset_checks(record: dict | None) -> list[str]:
    """'<check>: <summary>' for each blocking check the prepared dataset failed."""
    checks = (record or {}).get("checks", {})
    return [f"{name}: {check['summary']}" for name, check in checks.items() if not check["passed"]]


def load_dataset(task: TaskConfig, paths: EvaluationPaths) -> pl.DataFrame:
    """The stored sample table of `task`. DatasetError, with the fix, when the dataset was not prepared,
    is empty, or failed a blocking check (its numbers are in the message)."""
    record = dataset_record(task.name, paths)
    path = paths.dataset(task.name) / "samples.parquet"
    if record is None or (not path.exists() and "error" not in record):
        raise DatasetError(
            f"the dataset of task {task.name!r} is not prepared: materialize `dataset` for partition "
            f"{task.name!r} first (the `datasets` job; `vlmbench run` does it for you)"
        )
    if "error" in record:
        raise DatasetError(record["error"])
    failed = failed_dataset_checks(record)
    if failed:
        raise DatasetError(f"the dataset of task {task.name!r} failed its blocking check {'; '.join(failed)}")
    return pl.read_parquet(path)


# --- predictions -----------------------------------------------------------------------------------


def model_resolution(entry: EvaluatedModel) -> Resolution:
    """What the entry's `auto` settings resolve to here (part of its identity)."""
    return get_spec(entry.model).resolution(entry.params)


@dataclass(frozen=True)
class ReportedIdentity:
    """What a model running elsewhere (a release tag's environment) says it is: its package's version,
    the versions of the packages it uses, and what its settings resolved to there."""

    package_version: str
    package_versions: dict[str, str]
    resolution: Resolution


def prediction_key(
    entry: EvaluatedModel,
    prompt_hash: str,
    config: GenerationConfig,
    resolution: Resolution,
    reported: ReportedIdentity | None = None,
) -> PredictionKey:
    spec = get_spec(entry.model)
    versions = reported.package_versions if reported else None
    return PredictionKey(
        model_id=spec.model_id,
        package_version=reported.package_version if reported else spec.version,
        params_hash=params_hash(entry.params, identity_settings(spec, resolution.settings, versions)),
        prompt_hash=prompt_hash,
        config_hash=config.config_hash,
    )


def ensure_runnable(entry: EvaluatedModel) -> None:
    availability = get_spec(entry.model).availability(entry.params)
    if not availability.ok:
        raise ModelNotRunnableError(
            f"model {entry.name!r} ({entry.model}) cannot run here: {availability.reason}"
        )


def _prompted_samples(task: TaskConfig, samples: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """(sample_id, image_paths, prompt, system_prompt, hints) per sample, and the prompt hash."""
    from vlm_pipelines.answers import sample_choices

    prompt_set = task.prompts(samples, settings.REPO_ROOT)
    rows = samples.select("sample_id", "field_name", "doc_type", "metadata").to_dicts()
    hints = [
        json.dumps(
            request_hints(row, task.answer_type, sample_choices(json.loads(row["metadata"]), task.labels)),
            ensure_ascii=False,
        )
        for row in rows
    ]
    prompted = (
        samples.select("sample_id", "image_paths")
        .with_columns(pl.Series("hints", hints, dtype=pl.String))
        .join(prompt_set.prompts.select("sample_id", "prompt", "system_prompt"), on="sample_id", how="left")
    )
    return prompted, prompt_set.prompt_hash


@dataclass(frozen=True)
class RunSpeed:
    """Three honest figures of one predictions run: loading the model (imports and weights; the runner may
    have started it in the background, so `load_wait_s` says how long this step waited for it),
    generation throughput (samples per second of the batch loop: `generate` and waiting for the next
    prepared batch), and the end-to-end rate (samples per second of the whole step: reading the dataset,
    prompts, waiting for the model, generation and writing the batches)."""

    computed: int
    load_s: float
    generate_s: float
    wall_s: float
    load_wait_s: float = 0.0

    @property
    def samples_per_s(self) -> float:
        return per_second(self.computed, self.generate_s)

    @property
    def end_to_end_samples_per_s(self) -> float:
        return per_second(self.computed, self.wall_s)

    def as_dict(self) -> dict[str, float]:
        return {
            "computed": self.computed,
            "load_s": self.load_s,
            "load_wait_s": self.load_wait_s,
            "generate_s": self.generate_s,
            "wall_s": self.wall_s,
            "samples_per_s": self.samples_per_s,
            "end_to_end_samples_per_s": self.end_to_end_samples_per_s,
        }

    def describe(self) -> str:
        return (
            f"model load {self.load_s:.1f}s (waited {self.load_wait_s:.1f}s), generation "
            f"{self.samples_per_s:.2f} samples/s, end-to-end {self.end_to_end_samples_per_s:.2f} samples/s"
        )


@dataclass(frozen=True)
class Predicted:
    run: PredictionRun
    key: PredictionKey
    speed: RunSpeed
    resolution: Resolution
    config: GenerationConfig


def predict(
    entry: EvaluatedModel,
    task: TaskConfig,
    paths: EvaluationPaths,
    *,
    batch_size: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    model: VisionLanguageModel | None = None,
    identity: Callable[[], ReportedIdentity] | None = None,
) -> Predicted:
    """Answers every sample of the task with the model, resuming from the batches already stored.

    `model` (default: this process's shared instance of the entry's model) answers; when it runs
    elsewhere, `identity()` (called once it has loaded) says what keys its answers."""
    started = time.perf_counter()
    if model is None:
        ensure_runnable(entry)
    samples = load_dataset(task, paths)
    prompted, prompt_hash = _prompted_samples(task, samples)
    config = entry.generation_for(task.generation)
    store = PredictionStore(paths.predictions(entry.name, task.name))
    model = model or shared_model(entry.model, entry.params)
    load_started = time.perf_counter()
    model.load()  # may already be loading in the background (the runner starts it)
    load_wait_s = time.perf_counter() - load_started
    reported = identity() if identity else None
    resolution = reported.resolution if reported else model_resolution(entry)
    key = prediction_key(entry, prompt_hash, config, resolution, reported)
    run = run_predictions(
        model,
        prompted,
        key=key,
        config=config,
        batch_size=batch_size or entry.batch_size,
        store=store,
        on_progress=on_progress,
    )
    speed = RunSpeed(
        run.computed, model.load_seconds or 0.0, run.generate_s, time.perf_counter() - started, load_wait_s
    )
    store.folder.mkdir(parents=True, exist_ok=True)
    (store.folder / "current_key.json").write_text(
        json.dumps(
            {
                "key": key.as_dict(),
                "resolution": {
                    "settings": dict(resolution.settings),
                    "limitations": list(resolution.limitations),
                },
                "generation": config.model_dump(mode="json"),
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    if run.computed:  # a fully cached re-run keeps the speed of the run that computed the answers
        (store.folder / "last_run.json").write_text(json.dumps(speed.as_dict(), indent=2))
    return Predicted(run, key, speed, resolution, config)


def _current_key(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> dict:
    path = paths.predictions(entry.name, task.name) / "current_key.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no predictions of {entry.name} on {task.name} yet: materialize `predictions` first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_predictions(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> pl.DataFrame:
    """The predictions stored under the key of the model's last predictions run on this task."""
    key = PredictionKey(**_current_key(entry, task, paths)["key"])
    return PredictionStore(paths.predictions(entry.name, task.name)).load(key)


# --- scores and report -----------------------------------------------------------------------------


def score(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> pl.DataFrame:
    """Per-sample scores of the current predictions; archived by package version and params hash (which
    includes the resolved configuration) for the leaderboard."""
    samples = load_dataset(task, paths)
    current = _current_key(entry, task, paths)
    key = PredictionKey(**current["key"])
    predictions = PredictionStore(paths.predictions(entry.name, task.name)).load(key)
    predictions = predictions.filter(pl.col("sample_id").is_in(samples["sample_id"].to_list()))
    resolution = current.get("resolution", {})
    provenance = Provenance(
        task=task.name,
        model_name=entry.name,
        model_id=entry.model,
        package_version=key.package_version,
        dataset_hash=dataset_hash(samples),
        prompt_hash=key.prompt_hash,
        config_hash=key.config_hash,
        params_hash=key.params_hash,
        resolved_config=json.dumps(resolution.get("settings", {}), ensure_ascii=False, sort_keys=True),
        limitations=" | ".join(resolution.get("limitations", [])),
    )
    scores = score_samples(samples, predictions, task=task, provenance=provenance)
    archive_result(
        paths.results,
        task=task.name,
        model_name=entry.name,
        package_version=provenance.package_version,
        params_hash=provenance.params_hash,
        metrics=scores,
        speed=speed_summary(predictions) | _stored_speed(paths, entry, task),
    )
    return scores


def _stored_speed(paths: EvaluationPaths, entry: EvaluatedModel, task: TaskConfig) -> dict[str, float]:
    path = paths.predictions(entry.name, task.name) / "last_run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_scores(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> pl.DataFrame:
    return latest_result(entry, task, paths).sample_metrics


def latest_result(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> ArchivedResult:
    from vlm_pipelines.results import latest_results

    for result in latest_results(paths.results):
        if result.task == task.name and result.model_name == entry.name:
            return result
    raise FileNotFoundError(
        f"no scores of {entry.name} on {task.name} yet: materialize `sample_metrics` first"
    )


def result_notes(scores: pl.DataFrame, record: dict | None) -> list[str]:
    """What a reader of a result must know: what `auto` resolved to, what the model cannot do here, and
    how many input rows were quarantined and why."""
    notes = []
    first = scores.row(0, named=True) if scores.height else {}
    resolved = json.loads(first.get("resolved_config") or "{}")
    if resolved:
        notes.append("resolved configuration: " + ", ".join(f"{k} {v}" for k, v in resolved.items()))
    notes += [f"limitation: {text}" for text in (first.get("limitations") or "").split(" | ") if text]
    if record is not None:
        reasons = record.get("quarantine_reasons") or {}
        notes.append(
            f"dataset: {record.get('records', '?')} rows read, {record.get('quarantined', 0)} quarantined"
            + (f" ({_reasons_text(reasons)})" if reasons else "")
            + (f", encoding {record['encoding']}" if record.get("encoding") else "")
        )
    return notes
