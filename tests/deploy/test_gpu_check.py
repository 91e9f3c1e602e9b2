"""bench/gpu_check.sh, the check of a GPU host: its CPU mode runs here (the same sections, fp32, small
batches) and its CUDA mode on a GPU host. Nothing is mocked: the tiny random Qwen2.5-VL (built offline)
answers through model-hf, and a real `vlmbench serve` runs on 127.0.0.1.

    uv run pytest tests/deploy/test_gpu_check.py            # here
    uv run pytest -m gpu tests/deploy/test_gpu_check.py     # on a CUDA host
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vlm_pipelines.components import probe

REPO_ROOT = Path(__file__).resolve().parents[2]


def gpu_check(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    """Runs the check with this interpreter; returns the process and its JSON summary."""
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh", *args, "--json", str(summary), "--log-dir", str(tmp_path / "logs")],
        cwd=REPO_ROOT, env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
        timeout=900,  # bounds a hang only; the script has its own budget
    )  # fmt: skip
    assert summary.is_file(), (
        f"no summary (exit {done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}"
    )
    return done, json.loads(summary.read_text())


def sections(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {section["name"]: section for section in summary["sections"]}


def assert_statuses(summary: dict[str, Any], expected: dict[str, str | tuple[str, ...]]) -> None:
    found = sections(summary)
    assert list(found) == list(expected)
    for name, status in expected.items():
        allowed = status if isinstance(status, tuple) else (status,)
        assert found[name]["status"] in allowed, f"{name}: {found[name]['status']}: {found[name]['detail']}"


def assert_hf_rows_generated(hf: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    rows = hf["figures"]["rows"]
    assert [(row["dtype"], row["batch"]) for row in rows] == expected
    for row in rows:
        assert len(row["output_tokens"]) == row["batch"] and all(
            tokens > 0 for tokens in row["output_tokens"]
        )
        assert row["ttft_ms"] > 0 and row["tpot_ms"] > 0 and row["tokens_per_s"] > 0 and row["peak_mib"] > 0


@pytest.mark.slow
def test_the_cpu_mode_runs_every_section_and_the_tiny_model_generates(tmp_path: Path) -> None:
    done, summary = gpu_check(tmp_path, "--device", "cpu")
    assert_statuses(summary, {"discovery": "ok", "hf": "ok", "service": "ok", "vllm": "skipped"})
    assert done.returncode == 0, done.stderr[-2000:]
    found = sections(summary)
    assert found["discovery"]["figures"]["torch_cuda"]["available"] is False
    assert_hf_rows_generated(found["hf"], [("float32", 1), ("float32", 2)])
    service = found["service"]["figures"]
    assert {name: resolved["device"] for name, resolved in service["resolved"].items()} == {
        "tiny-a": "cpu",
        "tiny-b": "cpu",
    }
    assert service["without_api_key"] == 401
    assert service["evictions"] == {"tiny-a": 1.0, "tiny-b": 1.0}
    assert all(tokens > 0 for tokens in service["first_model"]["completion_tokens"])
    assert service["second_model_streamed"]["pieces"] > 0
    assert found["vllm"]["detail"].startswith(("vLLM runs on CUDA only", "vllm is not installed"))
    lines = done.stdout.splitlines()
    for name in ("discovery", "hf", "service", "vllm"):
        assert any(line.split()[:2] == [name, found[name]["status"]] for line in lines if line.strip())
    assert any(line.startswith("float32       2") for line in lines), done.stdout
    assert lines[-1].startswith("result: 3 ok, 1 skipped, 0 failed")


@pytest.mark.skipif(probe("cuda").ok, reason="this host has a GPU: --device cuda would not fail")
def test_a_failing_section_is_reported_and_the_next_one_still_runs(tmp_path: Path) -> None:
    done, summary = gpu_check(tmp_path, "--device", "cuda", "--sections", "discovery,vllm")
    assert_statuses(summary, {"discovery": "failed", "vllm": ("failed", "skipped")})
    assert sections(summary)["discovery"]["detail"].startswith("no GPU found through NVML or nvidia-smi")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("result: 0 ok")


def test_sections_beyond_the_time_budget_are_skipped_with_the_reason(tmp_path: Path) -> None:
    done, summary = gpu_check(tmp_path, "--device", "cpu", "--budget-s", "0")
    reason = "out of the time budget (--budget-s 0)"
    assert [(s["name"], s["status"], s["detail"]) for s in summary["sections"]] == [
        (name, "skipped", reason) for name in ("discovery", "hf", "service", "vllm")
    ]
    assert done.returncode == 0 and "result: 0 ok, 4 skipped, 0 failed" in done.stdout


@pytest.mark.gpu
@pytest.mark.slow
def test_the_cuda_check_passes_on_a_gpu_host(tmp_path: Path) -> None:
    done, summary = gpu_check(tmp_path, "--device", "cuda")
    assert_statuses(summary, {"discovery": "ok", "hf": "ok", "service": "ok", "vllm": ("ok", "skipped")})
    found = sections(summary)
    assert (
        found["discovery"]["figures"]["discovered"]
        and found["discovery"]["figures"]["torch_cuda"]["available"]
    )
    assert_hf_rows_generated(found["hf"], [("bfloat16", 1), ("bfloat16", 8), ("float32", 1), ("float32", 8)])
    assert {resolved["device"] for resolved in found["service"]["figures"]["resolved"].values()} == {"cuda"}
    assert done.returncode == 0
