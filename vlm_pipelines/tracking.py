"""Optional experiment tracking: every archived result as one MLflow run (`VLMBENCH_MLFLOW`, docs/tracking.md).

One run per result id, in an experiment named after the task, named `<model>@<package version>`:
- params: the whole key (model entry, package versions, params and what `auto` resolved to, prompt hash,
  generation config, task config hash, sample set and dataset hashes);
- metrics: each metric's mean with its bootstrap interval (`<metric>`, `<metric>_ci_low`,
  `<metric>_ci_high`, `<metric>_n`, the same numbers as the task report), `n`, `failed` and the speed figures;
- artifacts: the result's `record.json` and `sample_metrics.parquet` under `result/`, and the task report's
  folder under `report/` once it is written.

Logging a result id again adds what is missing (the report) to its run and never makes a second run. A
tracking failure (no MLflow installed, the server down) is one warning line: the result stays archived.
MLflow is imported only when tracking is on; nothing here imports Dagster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlm_pipelines import settings
from vlm_pipelines.evaluation.archive import RECORD, SCORES
from vlm_pipelines.evaluation.records import ResultRecord

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "MLflow tracking (VLMBENCH_MLFLOW) needs the `tracking` extra: pip install 'vlm-pipelines[tracking]' "
    "(in a checkout: uv sync --extra tracking)"
)
RESULT_TAG = "vlmbench.result_id"
SCORES_TAG = "vlmbench.scores_sha256"  # the per-sample scores a run logged (a re-score is a new run)
RESULT_ARTIFACTS = "result"
REPORT_ARTIFACTS = "report"
REPORT_FILES = ("report.html", "report.md")
# A server that is down costs seconds, not MLflow's default minutes of retries; a value already set wins.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # not in the middle of a command's own output
}
_BATCH = 100  # MLflow's limit of params per log_batch call
_PARAM_CHARS = 6000  # MLflow's limit of a param value


class TrackingUnavailable(RuntimeError):
    """Tracking is on but MLflow is not installed (the message is the install command)."""


def enabled() -> bool:
    return settings.mlflow_tracking_uri() is not None


def require_mlflow() -> None:
    """Raises TrackingUnavailable (one line: how to install it) when MLflow cannot be imported: for a
    command to check before a long run rather than warn after it."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise TrackingUnavailable(INSTALL_HINT) from None


def log_result(record: ResultRecord, folder: Path, report_dir: Path | None = None) -> str | None:
    """Logs the archived result in `folder` (and the task report in `report_dir`, when given and written)
    as its MLflow run when tracking is on. Returns the run id; None when tracking is off or failed, which
    is one warning line and never an exception."""
    uri = settings.mlflow_tracking_uri()
    if uri is None:
        return None
    try:
        return track(uri, record, folder, report_dir)
    except TrackingUnavailable as error:
        log.warning("%s", error)
    except Exception as error:  # a tracking server's failure must never fail the evaluation
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        log.warning(
            "MLflow tracking to %s failed for result %s (the result is archived): %s",
            uri,
            record.result_id,
            reason,
        )
    return None


def track(uri: str, record: ResultRecord, folder: Path, report_dir: Path | None = None) -> str:
    """`log_result` without the safety net: the run id of the result's run in the store at `uri`."""
    client = _client(uri)
    experiment_id = _experiment(client, record.task)
    scores_hash = hashlib.sha256((folder / SCORES).read_bytes()).hexdigest()
    run_id = find_run(client, experiment_id, record.result_id, scores_hash)
    if run_id is None:  # new, or scored again with other numbers (the scoring code is not in the key)
        run_id = _new_run(client, experiment_id, record, folder, scores_hash)
    if report_dir is not None and any((report_dir / name).is_file() for name in REPORT_FILES):
        client.log_artifacts(run_id, str(report_dir), REPORT_ARTIFACTS)
    return run_id


def find_run(client: Any, experiment_id: str, result_id: str, scores_hash: str) -> str | None:
    """The finished run of `result_id` with these per-sample scores, if one was logged (a run that failed
    half-way is not reused)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{RESULT_TAG}` = '{result_id}' and tags.`{SCORES_TAG}` = '{scores_hash}' "
        "and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def run_name(record: ResultRecord) -> str:
    return f"{record.model_name}@{record.key.package_version}"


def _client(uri: str) -> Any:
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps its file store (the one backend mlflow-skinny has locally) behind this opt-in.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingUnavailable(INSTALL_HINT) from None
    return MlflowClient(tracking_uri=uri)


def _experiment(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # created meanwhile by another process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _new_run(client: Any, experiment_id: str, record: ResultRecord, folder: Path, scores_hash: str) -> str:
    from mlflow.entities import Metric, Param

    run = client.create_run(
        experiment_id,
        start_time=record.created_ns // 1_000_000,
        tags={**tags(record), SCORES_TAG: scores_hash},
        run_name=run_name(record),
    )
    run_id = run.info.run_id
    try:
        stamp = record.created_ns // 1_000_000
        items = list(params(record).items())
        for start in range(0, len(items), _BATCH):
            batch = [Param(key, value) for key, value in items[start : start + _BATCH]]
            client.log_batch(run_id, params=batch)
        metric_list = [Metric(key, value, stamp, 0) for key, value in metrics(record, folder).items()]
        client.log_batch(run_id, metrics=metric_list)
        for name in (RECORD, SCORES):
            client.log_artifact(run_id, str(folder / name), RESULT_ARTIFACTS)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def tags(record: ResultRecord) -> dict[str, str]:
    """What finds a result's run: its ids and the columns of its key."""
    return {
        RESULT_TAG: record.result_id,
        "vlmbench.manifest_id": record.manifest_id,
        "vlmbench.model": record.model_name,
        "vlmbench.task": record.task,
        "vlmbench.sample_set": record.sample_set.key,
        **{f"vlmbench.{name}": value for name, value in record.key.as_dict().items()},
    }


def params(record: ResultRecord) -> dict[str, str]:
    """The resolved configuration and hashes of the result, flattened to `section.name` keys."""
    model, samples = record.model, record.sample_set
    flat = {
        "result_id": record.result_id,
        "manifest_id": record.manifest_id,
        "model.name": model.name,
        "model.model_id": model.model_id,
        "model.package": model.package,
        "model.package_version": model.package_version,
        "model.params_hash": record.key.params_hash,
        "model.limitations": " | ".join(model.limitations),
        "prompt_hash": record.key.prompt_hash,
        "generation.config_hash": record.key.config_hash,
        "task.name": record.task,
        "task.task_hash": samples.task_hash,
        "sample_set.key": samples.key,
        "sample_set.dataset_hash": samples.dataset_hash,
        "sample_set.selection": samples.selection,
        "sample_set.n": str(samples.n),
        **dict(_flatten("package_versions", model.package_versions)),
        **dict(_flatten("model.params", model.params)),
        **dict(_flatten("model.resolved", model.resolved)),
        **dict(_flatten("generation", record.generation)),
    }
    return {_key(name): value[:_PARAM_CHARS] for name, value in flat.items()}


def metrics(record: ResultRecord, folder: Path) -> dict[str, float]:
    """Each metric's mean and bootstrap interval over the archived scores (the task report's numbers),
    the counts and the speed figures that were measured."""
    import polars as pl

    from vlm_pipelines.aggregate import group_scores

    scores = pl.read_parquet(folder / SCORES)
    values: dict[str, float] = {"n": float(record.n), "failed": float(record.failed)}
    for row in group_scores(scores, record.metrics, by=[]).iter_rows(named=True):
        if row["mean"] is None:
            continue
        name = _key(row["metric"])
        values |= {
            name: row["mean"],
            f"{name}_ci_low": row["ci_low"],
            f"{name}_ci_high": row["ci_high"],
            f"{name}_n": float(row["n"]),
        }
    speed = record.speed.model_dump()
    values |= {f"speed.{name}": float(value) for name, value in speed.items() if value is not None}
    return values


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for name, item in value.items():
            yield from _flatten(f"{prefix}.{name}", item)
    else:
        yield (
            prefix,
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True),
        )


def _key(name: str) -> str:
    """An MLflow key: letters, digits and `_-. /` only."""
    return "".join(char if char.isalnum() or char in "_-. /" else "_" for char in name)
