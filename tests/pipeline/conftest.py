"""Fixtures for pipeline tests: an isolated data folder and Dagster instance per test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_MINI = REPO_ROOT / "data" / "vlmhyperbench_sample" / "demo_mini"


def demo_mini_copy(folder: Path, extra_rows: list[str] = ()) -> Path:
    """A copy of the demo_mini dataset folder (VLMHyperBench CSV), with `extra_rows` appended."""
    shutil.copytree(DEMO_MINI, folder, ignore=shutil.ignore_patterns("prompt_collections", "annotation_*"))
    if extra_rows:
        with (folder / "annotation.csv").open("a", encoding="utf-8") as handle:
            handle.write("\n".join(extra_rows) + "\n")
    return folder


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
