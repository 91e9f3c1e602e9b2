"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import running_postgres

# The original tool's sample files, kept in the repository so that any clone can run every test.
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "vlmhyperbench_sample"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """`<repo>/data/vlmhyperbench_sample`: the real VLMHyperBench sample files."""
    assert SAMPLE_DATA.is_dir(), f"the sample data is missing from the repository: {SAMPLE_DATA}"
    return SAMPLE_DATA


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL started for the module (tests/postgres.py); mark the test `requires("postgres")`."""
    with running_postgres() as url:
        yield url


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """VLMBENCH_DATA_DIR and DAGSTER_HOME under tmp_path, for this process and its subprocesses."""
    data_dir = tmp_path / "data"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_bytes((SAMPLE_DATA.parents[1] / "dagster.yaml").read_bytes())
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return {**os.environ, "VLMBENCH_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(dagster_home)}
