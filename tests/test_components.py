"""System components: a test that needs a missing one skips with the reason and the install command, and
fails instead under CI. Checked with the real root conftest on a PATH without Tesseract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vlm_pipelines.components import COMPONENTS, probe

REPO_ROOT = Path(__file__).resolve().parents[1]
NEEDS_TESSERACT = """
import pytest

@pytest.mark.requires("tesseract")
def test_reads_russian():
    assert True

@pytest.mark.gpu
def test_on_a_gpu():
    assert True

@pytest.mark.gpu
@pytest.mark.requires("tesseract")
def test_on_a_gpu_with_tesseract():
    assert True

def test_with_a_checkpoint(skip_or_fail):
    skip_or_fail("a checkpoint is missing; install: set CHECKPOINT")
"""


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_needs.py").write_text(NEEDS_TESSERACT)
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conftest",
            "-rsf",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_component_is_a_skip_with_the_install_command(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 skipped" in result.stdout
    assert "a checkpoint is missing; install: set CHECKPOINT" in result.stdout
    assert (
        "Tesseract OCR with Russian and English is missing (the tesseract binary is not on PATH); install: apt-get install -y tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng"
        in result.stdout
    )


def test_under_ci_a_missing_component_fails_but_a_missing_gpu_stays_a_skip(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    # Tesseract: a setup error; the checkpoint: a failure; both GPU tests, Tesseract or not: skips.
    assert "1 failed, 2 skipped" in result.stdout and "1 error" in result.stdout
    assert "CI=true and a required component is missing: Tesseract OCR" in result.stdout
    assert "CI=true and a required component is missing: a checkpoint is missing" in result.stdout
    assert "CUDA GPU is missing" in result.stdout


def test_every_component_probe_runs_and_says_something() -> None:
    for name in COMPONENTS:
        state = probe(name)
        assert state.detail, name
    with pytest.raises(KeyError, match="unknown component"):
        probe("nope")


def test_the_docker_tests_say_they_need_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from vlm_pipelines import components

    monkeypatch.setattr(components.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(components.os, "geteuid", lambda: 1000)
    found = components._docker()  # noqa: SLF001 - the probe itself, not its per-process cache
    assert not found.ok and "needs root" in found.detail
