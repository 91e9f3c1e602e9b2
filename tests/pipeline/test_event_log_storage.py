"""The embedded instance keeps every run's events in one SQLite event log; an instance folder that already
keeps Dagster's per-run logs (made before) stays with them, so its runs keep their logs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from vlm_pipelines import settings
from vlm_pipelines.defs.runner import SINGLE_EVENT_LOG_MARK, prepare_dagster_home


@dg.asset
def counted() -> int:
    return 1


def materialize_once() -> str:
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([counted], instance=instance)
        assert result.success
        return result.run_id


def logged_materializations(run_id: str) -> int:
    with dg.DagsterInstance.get() as instance:
        return sum(
            1 for entry in instance.all_logs(run_id) if entry.dagster_event_type == "ASSET_MATERIALIZATION"
        )


def event_log_class() -> str:
    with dg.DagsterInstance.get() as instance:
        return type(instance.event_log_storage).__name__


def test_a_new_instance_writes_one_event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = prepare_dagster_home()
    assert (home / "dagster.yaml").read_text() == (settings.REPO_ROOT / "dagster.yaml").read_text()
    assert event_log_class() == "ConsolidatedSqliteEventLogStorage"

    run_id = materialize_once()
    assert logged_materializations(run_id) == 1
    assert (home / "event_log.db").is_file()
    assert not (home / "history" / "runs").exists()  # no database per run
    prepare_dagster_home()
    assert event_log_class() == "ConsolidatedSqliteEventLogStorage"


def test_an_instance_with_per_run_logs_keeps_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = (settings.REPO_ROOT / "dagster.yaml").read_text().split(SINGLE_EVENT_LOG_MARK)[0]
    (home / "dagster.yaml").write_text(before)  # the embedded file as it was before the single event log
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert event_log_class() == "SqliteEventLogStorage"
    run_id = materialize_once()
    assert (home / "history" / "runs" / f"{run_id}.db").is_file()

    prepare_dagster_home()
    assert (home / "dagster.yaml").read_text() == before
    assert event_log_class() == "SqliteEventLogStorage"
    assert logged_materializations(run_id) == 1  # the earlier run's log is still read
    assert not (home / "event_log.db").exists()
