"""Fixtures for pipeline tests: an isolated data folder and Dagster instance per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """VLMBENCH_DATA_DIR and DAGSTER_HOME under tmp_path, for this process and its subprocesses."""
    data_dir = tmp_path / "data"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_bytes((REPO_ROOT / "dagster.yaml").read_bytes())
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return {**os.environ, "VLMBENCH_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(dagster_home)}


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `vlmbench ARGS` in a subprocess of this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "vlm_pipelines.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_vlmbench(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """`vlmbench ARGS` in this process (no interpreter start, and loaded models are reused across tests):
    (exit code, stdout, stderr)."""
    from vlm_pipelines import cli

    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
