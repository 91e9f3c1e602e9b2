"""A Dagster instance on a real PostgreSQL (dagster-postgres, as docker/dagster.yaml configures it):
`vlmbench run` stores its runs, events and asset checks there, dynamic partitions persist, and a fresh
process reads them all back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.pipeline.conftest import REPO_ROOT, run_vlmbench

DEMO_MINI = REPO_ROOT / "data" / "vlmhyperbench_sample" / "demo_mini"


@pytest.mark.requires("postgres")
def test_runs_events_and_dynamic_partitions_are_stored_in_postgres(
    postgres_url: str, project_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    import dagster as dg
    import sqlalchemy

    home = Path(project_env["DAGSTER_HOME"])
    production = yaml.safe_load((REPO_ROOT / "docker" / "dagster.yaml").read_text(encoding="utf-8"))
    instance_config = {
        "storage": {"postgres": {"postgres_url": postgres_url}},
        "concurrency": production["concurrency"],
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config), encoding="utf-8")

    args = ["run", "--model", "ocr-rules", "--model-param", "engine=auto", "--dataset", str(DEMO_MINI),
            "--max-samples", "3"]  # fmt: skip
    code, out, err = run_vlmbench(args, capsys)
    assert code == 0, err
    assert yaml.safe_load((home / "dagster.yaml").read_text())["storage"]["postgres"]  # left as it was

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = instance.get_runs()
        assert sorted(run.job_name for run in runs) == ["datasets", "evaluate", "leaderboard_job"]
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        evaluate = next(run for run in runs if run.job_name == "evaluate")
        predictions = instance.get_latest_materialization_event(dg.AssetKey("predictions"))
        assert predictions is not None and predictions.run_id == evaluate.run_id
        model = predictions.dagster_event.partition.split("|")[0]
        assert re.fullmatch(r"ocr-rules-[0-9a-f]{8}", model)  # the --model-param variant's own entry
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("predictions"), "coverage")]
        )
        assert checks, "the asset checks' evaluations are stored too"
        instance.add_dynamic_partitions("knowledge_base", ["handbook", "contracts"])

    with dg.DagsterInstance.get() as reopened:  # another process's view: nothing lived in memory only
        assert reopened.get_dynamic_partitions("knowledge_base") == ["handbook", "contracts"]
        assert len(reopened.get_runs()) == 3
        assert reopened.get_run_by_id(evaluate.run_id).tags["dagster/partition/model"] == model

    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:
        stored = connection.execute(sqlalchemy.text("select count(*) from runs")).scalar_one()
        events = connection.execute(sqlalchemy.text("select count(*) from event_logs")).scalar_one()
    engine.dispose()
    assert stored == 3 and events > 20
