"""A predictions run killed with SIGKILL resumes: finished batches are reused, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from tests.pipeline.conftest import REPO_ROOT, run_vlmbench

# One sample per batch, each a different document: every batch OCRs a new page (about 0.6 s), and files
# hold groups of at least 1 s of work (about 2 pages), so the kill still lands mid-run.
MODEL, TASK, SAMPLES, BATCH = "ocr-rules", "synth_classification_en", 12, 1
ARGS = ["run", "--model", MODEL, "--task", TASK, "--max-samples", str(SAMPLES), "--batch-size", str(BATCH)]
METRICS = ["classification_accuracy"]


def batch_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "predictions" / MODEL / TASK).glob("batch-*.parquet"))


def sample_ids(files: list[Path]) -> list[str]:
    return [sample for path in files for sample in pl.read_parquet(path)["sample_id"].to_list()]


def scores(data_dir: Path) -> pl.DataFrame:
    path = next((data_dir / "results" / TASK / MODEL).glob("*/sample_metrics.parquet"))
    return pl.read_parquet(path).select("sample_id", *METRICS).sort("sample_id")


def test_kill_9_mid_run_then_resume(project_env: dict[str, str], tmp_path: Path, capsys, monkeypatch) -> None:
    data_dir = Path(project_env["VLMBENCH_DATA_DIR"])
    process = subprocess.Popen(
        [sys.executable, "-m", "vlm_pipelines.cli", *ARGS],
        cwd=REPO_ROOT,
        env=project_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(batch_files(data_dir)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGSTOP)  # frozen at once: no batch can land between the check and the kill
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL

    before = batch_files(data_dir)
    done_before = sample_ids(before)
    assert 2 * BATCH <= len(done_before) < SAMPLES, "the kill must land mid-run"
    snapshot = {path: path.read_bytes() for path in before}

    code, out, err = run_vlmbench(ARGS, capsys)  # the resumed run, in this process
    assert code == 0, out + err

    after = batch_files(data_dir)
    new_files = [path for path in after if path not in snapshot]
    recomputed = sample_ids(new_files)
    assert all(path.read_bytes() == content for path, content in snapshot.items())
    assert set(recomputed).isdisjoint(done_before), "finished samples were computed again"
    assert sorted(done_before + recomputed) == sorted(set(done_before + recomputed))
    assert len(done_before) + len(recomputed) == SAMPLES, "a sample was lost or duplicated"

    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(tmp_path / "uninterrupted"))
    code, out, err = run_vlmbench(ARGS, capsys)
    assert code == 0, out + err
    assert scores(data_dir).equals(scores(tmp_path / "uninterrupted"))
