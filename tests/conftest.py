"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# The original tool's sample files, kept in the repository so that any clone can run every test.
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "vlmhyperbench_sample"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """`<repo>/data/vlmhyperbench_sample`: the real VLMHyperBench sample files."""
    assert SAMPLE_DATA.is_dir(), f"the sample data is missing from the repository: {SAMPLE_DATA}"
    return SAMPLE_DATA
