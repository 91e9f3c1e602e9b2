"""MLflow tracking (issue 17): a real result of the real `ocr-rules` model, scored by the real step with
`VLMBENCH_MLFLOW` set, read back from a real local MLflow store with `MlflowClient`. Nothing is mocked; the
"server down" case is a real closed port on 127.0.0.1."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.processes import free_port
from vlm_pipelines import tracking
from vlm_pipelines.aggregate import group_scores
from vlm_pipelines.evaluation import (
    EvaluationPaths,
    predict,
    prepare_dataset,
    result_of,
    score,
)
from vlm_pipelines.evaluation.archive import RECORD, SCORES
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.reports.task_report import report_result
from vlm_pipelines.tasks import load_task_registry

MODEL, TASK, SAMPLES = "ocr-rules", "synth_vqa_en", 6

pytestmark = pytest.mark.requires("tesseract")


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory):
    """The OCR demo model's answers to the first 6 samples of synth_vqa_en (not yet scored)."""
    paths = EvaluationPaths(tmp_path_factory.mktemp("data"))
    entry, task = load_model_registry()[MODEL], load_task_registry().require(TASK)
    prepare_dataset(task, paths)
    return paths, entry, task, predict(entry, task, paths, max_samples=SAMPLES).manifest


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh `VLMBENCH_DATA_DIR`: where the default tracking store (`<data dir>/mlruns`) goes."""
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VLMBENCH_MLFLOW", raising=False)
    return tmp_path


def write_report(paths: EvaluationPaths, task, record) -> Path:
    """The task report, as the `task_report` asset writes it."""
    return report_result(record, task, paths).html_path.parent


def test_a_scored_result_is_one_run_with_its_key_metrics_intervals_and_artifacts(
    predicted, data_dir, monkeypatch, tmp_path
) -> None:
    from mlflow.tracking import MlflowClient

    paths, _, task, manifest = predicted
    monkeypatch.setenv("VLMBENCH_MLFLOW", "1")  # the default: a file store in the data folder
    store = data_dir / "mlruns"

    record, scores = score(task, manifest, paths)  # the hook logs the result
    report_dir = write_report(paths, task, record)
    tracking.log_result(record, result_of(record, paths).folder, report_dir)  # the report's hook
    score(task, manifest, paths)  # the same result again

    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name(TASK)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, "logging one result id twice must not make a second run"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"{MODEL}@{record.key.package_version}"
    assert run.data.tags["vlmbench.result_id"] == record.result_id
    assert run.data.tags["vlmbench.prompt_hash"] == record.key.prompt_hash

    params = run.data.params
    assert params["result_id"] == record.result_id
    assert params["model.model_id"] == record.model.model_id
    assert params["model.package_version"] == record.key.package_version
    assert params["model.params_hash"] == record.key.params_hash
    assert params["prompt_hash"] == record.key.prompt_hash
    assert params["generation.config_hash"] == record.key.config_hash
    assert params["task.task_hash"] == record.sample_set.task_hash
    assert params["sample_set.dataset_hash"] == record.sample_set.dataset_hash
    assert params["sample_set.key"] == record.sample_set.key
    assert params["sample_set.n"] == str(SAMPLES)
    assert params["sample_set.selection"] == f"first {SAMPLES} by sample_id"
    for package, version in record.model.package_versions.items():
        assert params[f"package_versions.{package}"] == version
    for name, value in record.model.resolved.items():
        assert params[f"model.resolved.{name}"] == value
    assert {f"generation.{name}" for name in record.generation} <= set(params)

    overall = group_scores(scores, record.metrics, by=[])
    metrics = run.data.metrics
    assert metrics["n"] == SAMPLES
    for row in overall.iter_rows(named=True):
        name = row["metric"]
        assert metrics[name] == pytest.approx(scores[name].mean())
        assert metrics[f"{name}_ci_low"] == pytest.approx(row["ci_low"])
        assert metrics[f"{name}_ci_high"] == pytest.approx(row["ci_high"])
        assert metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"]
        assert metrics[f"{name}_n"] == SAMPLES

    run_id = run.info.run_id
    assert {item.path for item in client.list_artifacts(run_id, "result")} == {
        f"result/{RECORD}",
        f"result/{SCORES}",
    }
    reported = {item.path for item in client.list_artifacts(run_id, "report")}
    assert {"report/report.html", "report/report.md"} <= reported
    local = Path(client.download_artifacts(run_id, f"result/{SCORES}", str(tmp_path)))
    assert pl.read_parquet(local).equals(scores)


def test_tracking_off_logs_nothing(predicted, data_dir) -> None:
    paths, _, task, manifest = predicted
    record, _ = score(task, manifest, paths)
    assert tracking.log_result(record, result_of(record, paths).folder) is None
    assert not (data_dir / "mlruns").exists()
    assert not (paths.root / "mlruns").exists()


def test_a_server_that_is_down_is_one_warning_and_the_result_stays(
    predicted, data_dir, monkeypatch, caplog
) -> None:
    paths, _, task, manifest = predicted
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("VLMBENCH_MLFLOW", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with caplog.at_level(logging.WARNING, logger="vlm_pipelines.tracking"):
        record, _ = score(task, manifest, paths)
    assert (result_of(record, paths).folder / RECORD).is_file()
    warnings = [entry.getMessage() for entry in caplog.records if entry.name == "vlm_pipelines.tracking"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith(f"MLflow tracking to {uri} failed for result {record.result_id}")


def test_tracking_without_mlflow_installed_says_how_to_install_it(
    predicted, data_dir, monkeypatch, caplog
) -> None:
    """MLflow is installed here (the dev group): `sys.modules[...] = None` makes its import fail as if not."""
    paths, _, task, manifest = predicted
    record, _ = score(task, manifest, paths)
    monkeypatch.setenv("VLMBENCH_MLFLOW", "1")
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with caplog.at_level(logging.WARNING, logger="vlm_pipelines.tracking"):
        assert tracking.log_result(record, result_of(record, paths).folder) is None
    assert [entry.getMessage() for entry in caplog.records] == [tracking.INSTALL_HINT]
    assert "pip install 'vlm-pipelines[tracking]'" in tracking.INSTALL_HINT
    with pytest.raises(tracking.TrackingUnavailable, match=r"vlm-pipelines\[tracking\]"):
        tracking.require_mlflow()
    assert not (data_dir / "mlruns").exists()


def test_the_module_and_the_steps_import_neither_mlflow_nor_dagster() -> None:
    code = (
        "import sys, vlm_pipelines.tracking, vlm_pipelines.evaluation.steps; "
        "print(sorted(name for name in ('mlflow', 'dagster') if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_result_scored_again_with_other_numbers_is_a_new_run(predicted, data_dir, monkeypatch) -> None:
    """The scoring code is not part of the key yet: a re-score of the same result id with other per-sample
    scores must not leave the old numbers as the only run."""
    from mlflow.tracking import MlflowClient

    paths, _, task, manifest = predicted
    monkeypatch.setenv("VLMBENCH_MLFLOW", "1")
    record, scores = score(task, manifest, paths)
    folder = result_of(record, paths).folder
    metric = record.metrics[0]
    changed = scores.with_columns(pl.lit(0.0).alias(metric))  # as a scorer change would
    changed.write_parquet(folder / SCORES)
    tracking.log_result(record, folder)
    tracking.log_result(record, folder)  # the same numbers again: no third run

    client = MlflowClient(tracking_uri=(data_dir / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name(TASK).experiment_id])
    assert len(runs) == 2
    assert sorted(run.data.metrics[metric] for run in runs)[0] == 0.0
