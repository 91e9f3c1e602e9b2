"""The results archive, content-addressed: every result is stored and found by its result id (the whole
key: model entry, package versions, resolved settings, prompt, generation config, task config and the exact
sample set). Nothing overwrites a result with another key; older results stay, which gives the
leaderboard its history.

Layout: `<data_dir>/results/<task>/<model>/<result id>/{record.json, sample_metrics.parquet}`.

Results written before results were records (`<task>/<model>/<package version>/<params hash>/`) are
re-keyed on first read: their record is rebuilt from the provenance columns every score row carries (the
task config they were scored under was not recorded, so their sample set says `task_hash: "unrecorded"`),
and the folder moves to its result id.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from vlm_pipelines.evaluation.identity import (
    ModelIdentity,
    PredictionKey,
    SampleSet,
    manifest_id,
    result_id,
)
from vlm_pipelines.evaluation.records import ResultRecord, SpeedFigures, read_record, write_record

RECORD = "record.json"
SCORES = "sample_metrics.parquet"
UNRECORDED = "unrecorded"


def _safe(part: str) -> str:
    return part.replace("/", "_")


@dataclass(frozen=True)
class ArchivedResult:
    record: ResultRecord
    folder: Path

    @property
    def sample_metrics(self) -> pl.DataFrame:
        return pl.read_parquet(self.folder / SCORES)

    # the names the reports read
    @property
    def task(self) -> str:
        return self.record.task

    @property
    def model_name(self) -> str:
        return self.record.model_name


def result_folder(root: Path, record: ResultRecord) -> Path:
    return root / _safe(record.task) / _safe(record.model_name) / record.result_id


def archive_result(root: Path, record: ResultRecord, scores: pl.DataFrame) -> ArchivedResult:
    """Stores `scores` under the record's result id (rewriting only the same key's own result)."""
    folder = result_folder(root, record)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{SCORES}.tmp"
    scores.write_parquet(partial)
    os.replace(partial, folder / SCORES)
    write_record(record, folder / RECORD)  # last: a folder with a record is complete
    return ArchivedResult(record, folder)


def load_result(root: Path, task: str, model_name: str, result_id_: str) -> ArchivedResult:
    folder = root / _safe(task) / _safe(model_name) / result_id_
    if not (folder / RECORD).exists():
        raise FileNotFoundError(f"no result {result_id_} of {model_name} on {task} in {root}")
    return ArchivedResult(read_record(ResultRecord, folder / RECORD), folder)


def list_results(root: Path) -> list[ArchivedResult]:
    """Every archived result, oldest first (legacy folders are re-keyed first)."""
    migrate_legacy_results(root)
    found = [
        ArchivedResult(read_record(ResultRecord, path), path.parent) for path in root.glob(f"*/*/*/{RECORD}")
    ]
    return sorted(found, key=lambda result: result.record.created_ns)


def newest_by_key(results: list[ArchivedResult]) -> list[ArchivedResult]:
    """One result per result id (the newest write), oldest first."""
    newest = {result.record.result_id: result for result in results}
    return sorted(newest.values(), key=lambda result: result.record.created_ns)


# --- legacy folders ---------------------------------------------------------------------------------


def migrate_legacy_results(root: Path) -> list[Path]:
    """Re-keys results of the old `<task>/<model>/<version>/<params hash>/` layout; returns the new folders."""
    moved = []
    for scores_path in sorted(root.glob(f"*/*/*/*/{SCORES}")):
        old = scores_path.parent
        record = _legacy_record(old, pl.read_parquet(scores_path))
        target = result_folder(root, record)
        if target.exists():  # migrated by a concurrent reader
            shutil.rmtree(old, ignore_errors=True)
            continue
        target.mkdir(parents=True)
        os.replace(scores_path, target / SCORES)
        write_record(record, target / RECORD)
        shutil.rmtree(old, ignore_errors=True)
        if not any(old.parent.iterdir()):
            old.parent.rmdir()
        moved.append(target)
    return moved


def _legacy_record(folder: Path, scores: pl.DataFrame) -> ResultRecord:
    from vlm_pipelines.metrics import list_metrics

    first = scores.row(0, named=True) if scores.height else {}
    speed_path = folder / "speed.json"
    speed = json.loads(speed_path.read_text()) if speed_path.exists() else {}
    key = PredictionKey(
        model_id=str(first.get("model_id", "")),
        package_version=str(first.get("package_version", folder.parent.name)),
        params_hash=str(first.get("params_hash", folder.name)),
        prompt_hash=str(first.get("prompt_hash", "")),
        config_hash=str(first.get("config_hash", "")),
    )
    task, model_name = folder.parent.parent.parent.name, folder.parent.parent.name
    samples = SampleSet(
        task=task,
        task_hash=UNRECORDED,
        dataset_hash=str(first.get("dataset_hash", "")),
        selection="as scored",
        sample_ids=tuple(sorted(scores["sample_id"].to_list())) if scores.height else (),
    )
    metrics = [column for column in scores.columns if column in set(list_metrics())]
    return ResultRecord(
        result_id=result_id(model_name, key, samples),
        model_name=model_name,
        task=task,
        key=key,
        sample_set=samples,
        model=ModelIdentity(
            name=model_name,
            model_id=key.model_id,
            package="",
            package_version=key.package_version,
            package_versions={},
            params={},
            resolved=json.loads(first.get("resolved_config") or "{}"),
            limitations=tuple(text for text in (first.get("limitations") or "").split(" | ") if text),
        ),
        generation={},
        metrics=metrics,
        means={metric: scores[metric].mean() for metric in metrics},
        n=scores.height,
        failed=int(scores["failed"].sum()) if "failed" in scores.columns else 0,
        speed=SpeedFigures(
            computed=int(speed.get("computed", 0)),
            runs=1 if speed.get("computed") else 0,
            load_s=speed.get("load_s"),
            samples_per_s=speed.get("samples_per_s"),
            end_to_end_samples_per_s=speed.get("end_to_end_samples_per_s"),
            latency_p50_s=speed.get("latency_p50_s"),
            latency_p95_s=speed.get("latency_p95_s"),
            peak_memory_mb=speed.get("peak_memory_mb"),
        ),
        manifest_id=manifest_id(model_name, key, samples),
        created_ns=int((folder / SCORES).stat().st_mtime_ns),
        migrated_from=str(folder),
    )
