"""Past results, for `vlmbench results`: list them, show one, compare two on their shared samples, export
their per-sample records. Read from the results archive (`evaluation.archive`); no Dagster.

A result is named by its result id (the whole key, `evaluation.identity`) or any unambiguous prefix of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from vlm_pipelines.aggregate import PairedComparison, group_scores, paired_difference
from vlm_pipelines.evaluation.archive import SCORES, ArchivedResult, list_results, newest_by_key
from vlm_pipelines.evaluation.layout import EvaluationPaths

EXPORT_FORMATS = ("csv", "jsonl", "parquet")
# First in an export, in this order; the task's own columns (fields, metrics) follow.
LEADING_COLUMNS = (
    "result_id",
    "task",
    "model_name",
    "package_version",
    "sample_id",
    "question",
    "answers",
    "prediction_raw",
    "prediction",
    "parsed",
    "failed",
    "error",
)


class ResultLookupError(ValueError):
    """A result key that names no result, or more than one: the user's to fix."""


# --- list ------------------------------------------------------------------------------------------


def find_results(
    root: Path, task: str | None = None, model: str | None = None, history: bool = False
) -> list[ArchivedResult]:
    """Archived results, oldest first: every one with `history`, else the newest of each model on each
    task (the model's current result there)."""
    results = newest_by_key(list_results(root)) if root.is_dir() else []
    results = [
        result
        for result in results
        if (task is None or result.task == task) and (model is None or result.model_name == model)
    ]
    if history:
        return results
    newest = {(result.task, result.model_name): result for result in results}
    return sorted(newest.values(), key=lambda result: result.record.created_ns)


def main_score(result: ArchivedResult) -> tuple[str, float | None]:
    """(metric, mean) of the result's first metric, the one the leaderboard ranks by."""
    metrics = result.record.metrics
    return (metrics[0], result.record.means.get(metrics[0])) if metrics else ("", None)


def listing(results: Sequence[ArchivedResult]) -> pl.DataFrame:
    """One row per result: task, model, version, n, main score, date, key."""
    rows = []
    for result in results:
        metric, mean = main_score(result)
        rows.append(
            {
                "task": result.task,
                "model": result.model_name,
                "version": result.record.key.package_version,
                "n": result.record.n,
                "main score": f"{metric} {mean:.3f}" if mean is not None else metric or "-",
                "date": result.record.created,
                "key": result.record.result_id,
            }
        )
    schema = {"task": pl.String, "model": pl.String, "version": pl.String, "n": pl.Int64}
    schema |= {"main score": pl.String, "date": pl.String, "key": pl.String}
    return pl.DataFrame(rows, schema=schema)


# --- look-up ---------------------------------------------------------------------------------------


def resolve(root: Path, key: str) -> ArchivedResult:
    """The result whose id is `key` or starts with it."""
    key = key.strip()
    if not key:
        raise ResultLookupError("a result key is empty; `vlmbench results list` shows the keys")
    matches = [
        result for result in find_results(root, history=True) if result.record.result_id.startswith(key)
    ]
    exact = [result for result in matches if result.record.result_id == key]
    if exact or len(matches) == 1:
        return (exact or matches)[0]
    if not matches:
        raise ResultLookupError(
            f"no result with key {key!r} in {root}; `vlmbench results list --all` shows the keys"
        )
    candidates = ", ".join(f"{r.record.result_id} ({r.model_name} on {r.task})" for r in matches)
    raise ResultLookupError(f"result key {key!r} is ambiguous: {candidates}")


# --- show ------------------------------------------------------------------------------------------


def describe(result: ArchivedResult, paths: EvaluationPaths) -> dict[str, Any]:
    """What `results show` prints: the key's parts, versions, resolved settings, metrics with their
    intervals, n, quarantined rows and where the per-sample records and the report are."""
    from vlm_pipelines.evaluation.steps import dataset_record

    record = result.record
    scores = result.sample_metrics
    metrics = group_scores(scores, [m for m in record.metrics if m in scores.columns], by=[])
    dataset = dataset_record(record.task, paths)
    same_dataset = dataset is not None and dataset.hash == record.sample_set.dataset_hash
    report = paths.report(record.model_name, record.task) / "report.html"
    return {
        "key": record.result_id,
        "task": record.task,
        "model": record.model_name,
        "model id": record.model.model_id,
        "date": record.created,
        "key parts": {
            **record.key.as_dict(),
            "task_hash": record.sample_set.task_hash,
            "dataset_hash": record.sample_set.dataset_hash,
            "sample set": record.sample_set.label,
        },
        "versions": {record.model.package: record.model.package_version, **record.model.package_versions},
        "params": record.model.params,
        "resolved settings": record.model.resolved,
        "generation": record.generation,
        "limitations": list(record.model.limitations),
        "n": record.n,
        "failed": record.failed,
        "quarantined": dataset.quarantined if same_dataset else None,
        "metrics": {
            row["metric"]: {name: row[name] for name in ("mean", "ci_low", "ci_high", "n")}
            for row in metrics.iter_rows(named=True)
        },
        "per-sample records": str(result.folder / SCORES),
        "report": str(report) if report.exists() else None,
    }


# --- compare ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultComparison:
    """Result A against result B on the samples both scored (`aggregate.paired_difference`), with how many
    of those samples each did better on."""

    a: ArchivedResult
    b: ArchivedResult
    paired: PairedComparison
    a_better: int
    b_better: int
    equal: int
    notes: tuple[str, ...] = ()  # what differs between A's and B's sample sets besides the model


def comparable(a: ArchivedResult, b: ArchivedResult) -> tuple[str, ...]:
    """Refuses results whose gold answers may differ (another task or another stored dataset: sample ids
    do not cover the gold); returns notes on what else differs (the task config, the samples scored)."""
    set_a, set_b = a.record.sample_set, b.record.sample_set
    for what, left, right in (
        ("task", set_a.task, set_b.task),
        ("dataset", set_a.dataset_hash, set_b.dataset_hash),
    ):
        if left != right:
            raise ResultLookupError(
                f"cannot compare {a.record.result_id[:8]} with {b.record.result_id[:8]}: another {what} "
                f"({left} vs {right}), so the same sample ids may carry other gold answers"
            )
    notes = []
    if set_a.task_hash != set_b.task_hash:
        notes.append(
            f"the task configs differ ({set_a.task_hash} vs {set_b.task_hash}: prompt, extraction or scoring "
            "settings), so the difference is not the model's alone"
        )
    only_a, only_b = (
        set(set_a.sample_ids) - set(set_b.sample_ids),
        set(set_b.sample_ids) - set(set_a.sample_ids),
    )
    if only_a or only_b:
        notes.append(
            f"A scored {set_a.n} samples and B {set_b.n}: {len(only_a)} only in A and {len(only_b)} only in B "
            "are left out"
        )
    return tuple(notes)


def higher_is_better(metric: str) -> bool:
    from vlm_pipelines.metrics import UnknownMetricError, get_metric

    try:
        return get_metric(metric).higher_is_better
    except UnknownMetricError:
        return True


def compare(a: ArchivedResult, b: ArchivedResult, metric: str | None = None) -> ResultComparison:
    """Paired comparison of `metric` (default: A's main metric) on the samples A and B share."""
    notes = comparable(a, b)
    metric = metric or main_score(a)[0]
    scores_a, scores_b = a.sample_metrics, b.sample_metrics
    for result, scores in ((a, scores_a), (b, scores_b)):
        if metric not in scores.columns:
            raise ResultLookupError(
                f"result {result.record.result_id} has no {metric!r} scores; it has {', '.join(result.record.metrics)}"
            )
    better_high = higher_is_better(metric)
    try:
        paired = paired_difference(
            scores_a,
            scores_b,
            metric,
            higher_is_better=better_high,
            names=(label(a), label(b)),
        )
    except ValueError as error:
        raise ResultLookupError(
            f"cannot compare {a.record.result_id} with {b.record.result_id}: {error}"
        ) from None
    shared = (
        scores_a.select("sample_id", pl.col(metric).alias("a"))
        .join(scores_b.select("sample_id", pl.col(metric).alias("b")), on="sample_id")
        .drop_nulls()
        .filter(pl.col("a").is_not_nan() & pl.col("b").is_not_nan())
    )
    a_higher = int((shared["a"] > shared["b"]).sum())
    b_higher = int((shared["a"] < shared["b"]).sum())
    return ResultComparison(
        a=a,
        b=b,
        paired=paired,
        a_better=a_higher if better_high else b_higher,
        b_better=b_higher if better_high else a_higher,
        equal=shared.height - a_higher - b_higher,
        notes=notes,
    )


def label(result: ArchivedResult) -> str:
    return f"{result.model_name} {result.record.key.package_version} [{result.record.result_id[:8]}]"


# --- export ----------------------------------------------------------------------------------------


def export_frame(results: Sequence[ArchivedResult]) -> pl.DataFrame:
    """The per-sample records of `results`, one row per sample and result: the raw and extracted answers,
    every score and the key columns."""
    frames = [  # the key from each record: rows of results re-keyed from older layouts carry none
        result.sample_metrics.with_columns(
            pl.lit(result.record.result_id).alias("result_id"), pl.lit(result.model_name).alias("model_name")
        )
        for result in results
    ]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    leading = [column for column in LEADING_COLUMNS if column in frame.columns]
    return frame.select(*leading, *(column for column in frame.columns if column not in leading))


def export(results: Sequence[ArchivedResult], fmt: str, out: Path) -> Path:
    """Writes the per-sample records of `results` to `out` as CSV, JSON lines or parquet. CSV has no lists:
    list columns (gold answers, image paths) are written as JSON arrays there."""
    if fmt not in EXPORT_FORMATS:
        raise ResultLookupError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if out.is_dir():
        raise ResultLookupError(
            f"--out {out} is a folder; name the file to write, e.g. {out / ('samples.' + fmt)}"
        )
    frame = export_frame(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.write_parquet(out)
    elif fmt == "jsonl":
        frame.write_ndjson(out)
    else:
        lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
        frame.with_columns(
            pl.Series(name, [_json_or_null(items) for items in frame[name].to_list()], dtype=pl.String)
            for name in lists
        ).write_csv(out)
    return out


def _json_or_null(items: list | None) -> str | None:
    return None if items is None else json.dumps(items, ensure_ascii=False)


# --- a run's output folder (`vlmbench run --output DIR`) ----------------------------------------------

SUMMARY_NAME = "results.json"


def samples_file_name(result: ArchivedResult) -> str:
    """`<model>/samples_<task>.jsonl`: a folder per model, since model and task names may both hold `_`."""
    return f"{result.model_name}/samples_{result.task}.jsonl"


def run_summary(
    results: Sequence[ArchivedResult], config: dict[str, Any], log_samples: bool
) -> dict[str, Any]:
    """A run's results in one JSON document, like lmms-eval's results file: the run's configuration, then
    per model and task the result key, versions, n and each metric's mean with its interval."""
    from vlm_pipelines.evaluation.records import iso, now_ns

    entries = []
    for result in results:
        record = result.record
        scores = group_scores(
            result.sample_metrics, [m for m in record.metrics if m in result.sample_metrics.columns], by=[]
        )
        entries.append(
            {
                "model": record.model_name,
                "task": record.task,
                "key": record.result_id,
                "model_id": record.model.model_id,
                "package_version": record.key.package_version,
                "generation": record.generation,
                "sample_set": record.sample_set.label,
                "n": record.n,
                "failed": record.failed,
                "metrics": {
                    row["metric"]: {name: row[name] for name in ("mean", "ci_low", "ci_high", "n")}
                    for row in scores.iter_rows(named=True)
                },
                "per_sample_parquet": str(result.folder / SCORES),
                "samples_file": samples_file_name(result) if log_samples else None,
            }
        )
    return {"date": iso(now_ns()), "config": config, "results": entries}


def write_run_output(
    out_dir: Path, results: Sequence[ArchivedResult], config: dict[str, Any], log_samples: bool
) -> list[Path]:
    """Writes `results.json` (`run_summary`) into `out_dir` and, with `log_samples`, each result's per-sample
    records as `<model>/samples_<task>.jsonl`. Returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if log_samples:
        written += [export([result], "jsonl", out_dir / samples_file_name(result)) for result in results]
    summary = out_dir / SUMMARY_NAME
    summary.write_text(
        json.dumps(run_summary(results, config, log_samples), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return [summary, *written]
