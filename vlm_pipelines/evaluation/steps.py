"""The evaluation steps the Dagster assets (and tests) call: dataset, predictions, scores, report.

Each step reads its inputs from the data folder and returns a typed record (`records.py`) that the next
step takes: a DatasetRecord, a PredictionManifest, a ResultRecord. A step can run in any process, in any
order a scheduler picks, and be traced afterwards. Nothing here imports Dagster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from model_interface import Resolution, VisionLanguageModel, shared_model

from vlm_pipelines import settings, tracking
from vlm_pipelines.evaluation.archive import ArchivedResult, archive_result, result_folder
from vlm_pipelines.evaluation.identity import (
    ModelIdentity,
    PredictionKey,
    SampleSet,
    model_identity,
    prediction_key,
    sample_set,
)
from vlm_pipelines.evaluation.layout import EvaluationPaths
from vlm_pipelines.evaluation.records import (
    CheckRecord,
    DatasetRecord,
    PredictionManifest,
    ResultRecord,
    RunFigures,
    read_record,
    write_record,
)
from vlm_pipelines.inference import (
    PredictionRun,
    PredictionStore,
    Progress,
    request_hints,
    run_predictions,
    speed_summary,
)
from vlm_pipelines.model_registry import EvaluatedModel, ensure_runnable
from vlm_pipelines.schemas import Provenance, ReadResult
from vlm_pipelines.scoring import score_samples
from vlm_pipelines.tasks import TaskConfig, load_task_dataset
from vlm_pipelines.tasks.config import ExpectedDataset

DEFAULT_MAX_QUARANTINE_SHARE = 0.2


# --- dataset ---------------------------------------------------------------------------------------


class DatasetError(ValueError):
    """A task's dataset cannot be evaluated (empty, not prepared, or it failed a blocking check)."""


@dataclass(frozen=True)
class DatasetCheck:
    """One check of a prepared dataset, with a one-line summary that gives the numbers. A failed blocking
    check stops the dataset from being evaluated; a failed non-blocking one is a warning."""

    name: str
    passed: bool
    summary: str
    metadata: dict
    blocking: bool = True


def conflicting_duplicates(samples: pl.DataFrame) -> list[list[str]]:
    """The groups of sample ids that ask the same question of the same images (same field, doc type and
    split) but expect different answers: a duplicate row whose answer was changed, or a mistake."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for row in samples.select(
        "sample_id", "image_paths", "question", "field_name", "doc_type", "split", "answers"
    ).iter_rows(named=True):
        key = json.dumps(
            [row["image_paths"], row["question"], row["field_name"], row["doc_type"], row["split"]],
            ensure_ascii=False,
        )
        groups.setdefault(key, []).append((row["sample_id"], json.dumps(row["answers"], ensure_ascii=False)))
    return [
        sorted(sample_id for sample_id, _ in group)
        for group in groups.values()
        if len({answers for _, answers in group}) > 1
    ]


def _reasons_text(reasons: dict[str, int]) -> str:
    return ", ".join(f"{reason} x{count}" for reason, count in reasons.items()) or "none"


def dataset_checks(
    result: ReadResult, max_quarantine_share: float, answer_type: str = "text"
) -> list[DatasetCheck]:
    """The schema check and the quarantine-share check of a read dataset (blocking), and the
    conflicting-duplicates check (not blocking: both samples are evaluated, and the record warns)."""
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
        _conflicts_check(result.samples),
        _order_references_check(result.samples, answer_type),
    ]


def expected_split_check(result: ReadResult, expected: ExpectedDataset) -> DatasetCheck:
    """The dataset against the official split of its benchmark. Another row count is a partial (or
    padded) copy: a warning, so a subset still runs. The full row count with another content hash is a
    re-encoded or edited copy: blocking, since its scores would not compare with published ones. A hash
    not pinned yet is a warning that gives the computed hash, for a user with the official data to pin."""
    rows = result.samples.height
    computed = result.dataset_hash
    pinned = expected.content_hash.get(result.format, "")
    metadata = {
        "rows": rows,
        "expected_rows": expected.rows,
        "content_hash": computed,
        "expected_hash": pinned,
    }
    if expected.rows is not None and rows != expected.rows:
        return DatasetCheck(
            "expected_split",
            False,
            f"{rows} rows, the official split has {expected.rows}: a partial or different copy, "
            "scores will not compare with published figures",
            metadata,
            blocking=False,
        )
    if not pinned:  # a warning until someone with the official data pins it in the task entry
        return DatasetCheck(
            "expected_split",
            False,
            f"{rows} rows; content hash not pinned: {computed}",
            metadata,
            blocking=False,
        )
    if computed != pinned:
        return DatasetCheck(
            "expected_split",
            False,
            f"{rows} rows but content hash {computed} differs from the official {pinned} "
            f"({result.format}): a re-encoded or edited copy",
            metadata,
        )
    return DatasetCheck("expected_split", True, f"{rows} rows, content hash as pinned", metadata)


def _order_references_check(samples: pl.DataFrame, answer_type: str) -> DatasetCheck:
    """A page-order task's references must each be a permutation of the same pages (blocking: otherwise
    an order cannot be scored at all); any other task passes it."""
    from vlm_pipelines.metrics.page_order import order_reference_problems

    if answer_type != "order":
        return DatasetCheck("order_references", True, "not a page-order task", {})
    bad = {
        row["sample_id"]: problems
        for row in samples.select("sample_id", "answers").iter_rows(named=True)
        if (problems := order_reference_problems(row["answers"]))
    }
    summary = (
        f"the references of all {samples.height} samples are permutations of the same pages"
        if not bad
        else f"{len(bad)} sample(s) whose references are not permutations of the same pages, e.g. "
        f"{next(iter(bad))}: {next(iter(bad.values()))[0]}"
    )
    return DatasetCheck("order_references", not bad, summary, {"samples": len(bad)})


def _conflicts_check(samples: pl.DataFrame) -> DatasetCheck:
    # Not blocking: which answer is right is for a person to decide, and one slip should not stop a whole
    # dataset; the count is in the record's warnings and the run summary.
    groups = conflicting_duplicates(samples) if samples.height else []
    involved = sum(len(group) for group in groups)
    summary = (
        "no conflicting duplicates"
        if not groups
        else f"{len(groups)} question(s) asked twice of the same image with different answers ({involved} "
        f"samples, e.g. {', '.join(groups[0])})"
    )
    return DatasetCheck(
        "conflicting_duplicates",
        not groups,
        summary,
        {"groups": len(groups), "samples": involved, "examples": [", ".join(group) for group in groups[:5]]},
        blocking=False,
    )


def prepare_dataset(
    task: TaskConfig,
    paths: EvaluationPaths,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> tuple[ReadResult, DatasetRecord, list[DatasetCheck]]:
    """Reads the task's whole dataset (generating synthetic documents if needed), stores the tables and its
    DatasetRecord (`dataset.json`). A run option such as `--max-samples` never changes what is stored: it
    selects at prediction time. An empty dataset is a DatasetError for this task; its stale sample table is
    removed so nothing evaluates it."""
    result = load_task_dataset(task, settings.REPO_ROOT, paths.cache)
    checks = dataset_checks(result, max_quarantine_share, task.answer_type)
    # A benchmark's copy against its official split: a warning in the record, or a DatasetError.
    expected = expected_split_check(result, task.dataset.expected) if task.dataset.expected else None
    folder = paths.dataset(task.name)
    folder.mkdir(parents=True, exist_ok=True)
    record = DatasetRecord(
        task=task.name,
        format=result.format,
        source=str(result.source),
        hash=result.dataset_hash if result.samples.height else "",
        encoding=result.encoding,
        encoding_confidence=result.encoding_confidence,
        records=result.records,
        rows=result.samples.height,
        quarantined=result.quarantine.height,
        skipped_rows=result.skipped_rows,
        quarantine_reasons=result.quarantine_reasons(),
        checks={
            check.name: CheckRecord(passed=check.passed, summary=check.summary, blocking=check.blocking)
            for check in checks
        },
        warnings=[
            *result.warnings,
            *([f"{expected.name}: {expected.summary}"] if expected and not expected.passed else []),
            *(
                f"{check.name}: {check.summary}"
                for check in checks
                if not check.blocking and not check.passed
            ),
        ],
    )
    result.quarantine.write_parquet(folder / "quarantine.parquet")
    if result.samples.height == 0:
        (folder / "samples.parquet").unlink(missing_ok=True)
        record.error = (
            f"task {task.name!r}: the dataset {result.source} has no usable rows "
            f"({result.records} read, {result.quarantine.height} quarantined: {record.reasons_text()})"
        )
        write_record(record, folder / "dataset.json")
        raise DatasetError(record.error)
    if expected is not None and expected.blocking and not expected.passed:
        (folder / "samples.parquet").unlink(missing_ok=True)
        record.error = f"task {task.name!r}: the dataset {result.source}: {expected.summary}"
        write_record(record, folder / "dataset.json")
        raise DatasetError(record.error)
    result.samples.write_parquet(folder / "samples.parquet")
    write_record(record, folder / "dataset.json")
    return result, record, checks


def dataset_record(task_name: str, paths: EvaluationPaths) -> DatasetRecord | None:
    """The DatasetRecord of the task's last preparation, or None."""
    path = paths.dataset(task_name) / "dataset.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw.setdefault("task", task_name)  # records written before the task was part of them
    return DatasetRecord.model_validate(raw)


def _stored_dataset(task: TaskConfig, paths: EvaluationPaths) -> tuple[DatasetRecord, pl.DataFrame]:
    record = dataset_record(task.name, paths)
    path = paths.dataset(task.name) / "samples.parquet"
    if record is None or (not path.exists() and record.error is None):
        raise DatasetError(
            f"the dataset of task {task.name!r} is not prepared: materialize `dataset` for partition "
            f"{task.name!r} first (the `datasets` job; `vlmbench run` does it for you)"
        )
    if record.error:
        raise DatasetError(record.error)
    if record.failed_checks:
        raise DatasetError(
            f"the dataset of task {task.name!r} failed its blocking check {'; '.join(record.failed_checks)}"
        )
    return record, pl.read_parquet(path)


def load_dataset(task: TaskConfig, paths: EvaluationPaths) -> pl.DataFrame:
    """The stored sample table of `task` (all of it). DatasetError, with the fix, when the dataset was not
    prepared, is empty, or failed a blocking check (its numbers are in the message)."""
    return _stored_dataset(task, paths)[1]


def select(
    task: TaskConfig, paths: EvaluationPaths, max_samples: int | None
) -> tuple[SampleSet, pl.DataFrame]:
    """The sample set a run evaluates (the first `max_samples` by sample id, or all) and its rows."""
    record, samples = _stored_dataset(task, paths)  # its record holds the stored table's content hash
    chosen = sample_set(task, record.hash, samples["sample_id"].to_list(), max_samples)
    return chosen, samples.filter(pl.col("sample_id").is_in(list(chosen.sample_ids))).sort("sample_id")


# --- predictions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportedIdentity:
    """What a model running elsewhere (a release tag's environment) says it is: its package's version,
    the versions of the packages it uses, and what its settings resolved to there."""

    package_version: str
    package_versions: dict[str, str]
    resolution: Resolution


def prompted_samples(task: TaskConfig, samples: pl.DataFrame) -> tuple[pl.DataFrame, str]:
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
class Predicted:
    """A predictions run: the answers, the manifest of their key, and this run's own figures."""

    run: PredictionRun
    manifest: PredictionManifest
    figures: RunFigures

    @property
    def key(self) -> PredictionKey:
        return self.manifest.key


def load_manifest(paths: EvaluationPaths, model_name: str, task: str, manifest_id: str) -> PredictionManifest:
    path = paths.manifest(model_name, task, manifest_id)
    if not path.exists():
        raise FileNotFoundError(
            f"no predictions {manifest_id} of {model_name} on {task}: materialize `predictions` first"
        )
    return read_record(PredictionManifest, path)


def predict(
    entry: EvaluatedModel,
    task: TaskConfig,
    paths: EvaluationPaths,
    *,
    max_samples: int | None = None,
    batch_size: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    model: VisionLanguageModel | None = None,
    identity: Callable[[], ReportedIdentity] | None = None,
    run_id: str = "",
) -> Predicted:
    """Answers every sample of the selected sample set, resuming from the answers already stored under
    the same key, and records this run in the key's manifest.

    `model` (default: this process's shared instance of the entry's model) answers; when it runs
    elsewhere, `identity()` (called once it has loaded) says what keys its answers."""
    started = time.perf_counter()
    if model is None:
        ensure_runnable(entry)
    samples_set, samples = select(task, paths, max_samples)
    prompted, prompt_hash = prompted_samples(task, samples)
    config = entry.generation_for(task.generation)
    store = PredictionStore(paths.predictions(entry.name, task.name))
    model = model or shared_model(entry.model, entry.params)
    load_started = time.perf_counter()
    model.load()  # may already be loading in the background (the runner starts it)
    load_wait_s = time.perf_counter() - load_started
    identity_here = _model_identity(entry, identity() if identity else None)
    key = prediction_key(identity_here, prompt_hash, config.config_hash)
    run = run_predictions(
        model,
        prompted,
        key=key,
        config=config,
        batch_size=batch_size or entry.batch_size,
        store=store,
        on_progress=on_progress,
    )
    failures = int(run.predictions["error"].is_not_null().sum())
    figures = RunFigures(
        run_id=run_id,
        computed=run.computed,
        reused=run.reused,
        failures=failures,
        load_s=model.load_seconds or 0.0,
        load_wait_s=load_wait_s,
        generate_s=run.generate_s,
        wall_s=time.perf_counter() - started,
    )
    fresh = PredictionManifest(
        model_name=entry.name,
        task=task.name,
        key=key,
        sample_set=samples_set,
        model=identity_here,
        generation=config.model_dump(mode="json"),
    )
    path = paths.manifest(entry.name, task.name, fresh.manifest_id)
    runs = read_record(PredictionManifest, path).runs if path.exists() else []
    manifest = fresh.model_copy(update={"runs": [*runs, figures], "failures": failures})
    write_record(manifest, path)
    return Predicted(run, manifest, figures)


def _model_identity(entry: EvaluatedModel, reported: ReportedIdentity | None) -> ModelIdentity:
    if reported is None:
        return model_identity(entry)
    return model_identity(
        entry,
        reported.resolution,
        package_version=reported.package_version,
        package_versions=reported.package_versions,
    )


def manifest_predictions(manifest: PredictionManifest, paths: EvaluationPaths) -> pl.DataFrame:
    """The stored answers of the manifest's key on its sample set."""
    store = PredictionStore(paths.predictions(manifest.model_name, manifest.task))
    ids = list(manifest.sample_set.sample_ids)
    return store.load(manifest.key).filter(pl.col("sample_id").is_in(ids)).sort("sample_id")


def newest_manifest(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> PredictionManifest:
    """The manifest of the model's most recent predictions run on the task (for tools and tests)."""
    folder = paths.predictions(entry.name, task.name) / "manifests"
    manifests = [read_record(PredictionManifest, path) for path in folder.glob("*.json")]
    if not manifests:
        raise FileNotFoundError(
            f"no predictions of {entry.name} on {task.name} yet: materialize `predictions` first"
        )
    return max(manifests, key=lambda manifest: manifest.runs[-1].started_ns if manifest.runs else 0)


def load_predictions(entry: EvaluatedModel, task: TaskConfig, paths: EvaluationPaths) -> pl.DataFrame:
    """The answers of the model's most recent predictions run on this task."""
    return manifest_predictions(newest_manifest(entry, task, paths), paths)


# --- scores and report -----------------------------------------------------------------------------


def score(
    task: TaskConfig, manifest: PredictionManifest, paths: EvaluationPaths
) -> tuple[ResultRecord, pl.DataFrame]:
    """Per-sample scores of the manifest's predictions, archived under the result's own key."""
    samples_set, samples = select(task, paths, None)
    if samples_set.dataset_hash != manifest.sample_set.dataset_hash:
        raise DatasetError(
            f"the dataset of task {task.name!r} changed since these predictions were made "
            f"({manifest.sample_set.dataset_hash[:12]} then, {samples_set.dataset_hash[:12]} now): "
            "materialize `predictions` again"
        )
    samples = samples.filter(pl.col("sample_id").is_in(list(manifest.sample_set.sample_ids)))
    predictions = manifest_predictions(manifest, paths)
    key, model = manifest.key, manifest.model
    provenance = Provenance(
        task=task.name,
        model_name=manifest.model_name,
        model_id=model.model_id,
        package_version=key.package_version,
        dataset_hash=manifest.sample_set.dataset_hash,
        prompt_hash=key.prompt_hash,
        config_hash=key.config_hash,
        params_hash=key.params_hash,
        resolved_config=json.dumps(model.resolved, ensure_ascii=False, sort_keys=True),
        limitations=" | ".join(model.limitations),
        result_id=manifest.result_id,
        sample_set=manifest.sample_set.key,
    )
    scores = score_samples(samples, predictions, task=task, provenance=provenance)
    metrics = [metric for metric in task.metrics if metric in scores.columns]
    record = ResultRecord(
        result_id=manifest.result_id,
        model_name=manifest.model_name,
        task=task.name,
        key=key,
        sample_set=manifest.sample_set,
        model=model,
        generation=manifest.generation,
        metrics=metrics,
        means={metric: scores[metric].mean() for metric in metrics},
        n=scores.height,
        failed=int(scores["failed"].sum()) if scores.height else 0,
        speed=manifest.speed(speed_summary(predictions)),
        manifest_id=manifest.manifest_id,
    )
    archived = archive_result(paths.results, record, scores)
    tracking.log_result(record, archived.folder)  # when VLMBENCH_MLFLOW is set; never fails the step
    return record, scores


def result_of(record: ResultRecord, paths: EvaluationPaths) -> ArchivedResult:
    """The archived result of `record` (its folder is derived from the record; nothing is read again)."""
    return ArchivedResult(record, result_folder(paths.results, record))


def result_notes(record: ResultRecord, dataset: DatasetRecord | None) -> list[str]:
    """What a reader of a result must know: the sample set, what `auto` resolved to, what the model cannot
    do here, and how many input rows were quarantined and why."""
    notes = [f"sample set: {record.sample_set.label}; result {record.result_id}"]
    if record.model.resolved:
        notes.append(
            "resolved configuration: " + ", ".join(f"{k} {v}" for k, v in record.model.resolved.items())
        )
    notes += [f"limitation: {text}" for text in record.limitations]
    if dataset is not None:
        notes.append(
            f"dataset: {dataset.records} rows read, {dataset.quarantined} quarantined"
            + (f" ({dataset.reasons_text()})" if dataset.quarantine_reasons else "")
            + (f", encoding {dataset.encoding}" if dataset.encoding else "")
        )
    return notes
