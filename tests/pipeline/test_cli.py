"""The `vlmbench` command: listings, errors, one evaluation, and the demo end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipeline.conftest import REPO_ROOT, run_cli, run_vlmbench
from vlm_pipelines.tasks import ad_hoc_task_name

DEMO_MINI = REPO_ROOT / "data" / "vlmhyperbench_sample" / "demo_mini"


def test_models_lists_every_id_with_package_and_availability(project_env) -> None:
    result = run_cli(["models"], project_env)
    assert result.returncode == 0, result.stderr
    for model_id in ("smollm2-135m", "tiny-qwen2.5-vl", "ocr-rules", "ocr-smollm2", "qwen2.5-vl-3b"):
        assert model_id in result.stdout
    assert "model-hf 0.1.0" in result.stdout
    assert "qwen2.5-vl-3b: " in result.stdout and "model_path" in result.stdout


def test_tasks_lists_the_registry(project_env) -> None:
    result = run_cli(["tasks"], project_env)
    assert result.returncode == 0, result.stderr
    assert "synth_vqa_en" in result.stdout and "demo_mini_vqa" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "--model", "no-such-model", "--task", "synth_vqa_en"],
            "unknown model id 'no-such-model'; known ids:",
        ),
        (["run", "--model", "ocr-rules", "--task", "nope"], "unknown task 'nope'; known tasks:"),
        (["run", "--model", "ocr-rules"], "give exactly one of --task NAME or --dataset PATH"),
        (
            ["run", "--model", "ocr-rules", "--dataset", "/no/such/dir"],
            "dataset path /no/such/dir does not exist",
        ),
        (
            ["run", "--model", "ocr-rules", "--task", "synth_vqa_en", "--max-samples", "0"],
            "--max-samples must be at least 1",
        ),
        (
            ["run", "--model", "ocr-rules", "--task", "synth_vqa_en", "--model-param", "x"],
            "expects KEY=VALUE",
        ),
        (["serve", "--model", "no-such-model"], "unknown model id 'no-such-model'; known ids:"),
        (
            ["serve", "--model", "ocr-rules", "--model", "smollm2-135m", "--model-param", "engine=rapidocr"],
            "--model-param applies to one model",
        ),
    ],
)
def test_bad_arguments_get_a_clear_error_and_exit_2(project_env, args: list[str], message: str) -> None:
    result = run_cli(args, project_env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_that_cannot_run_fails_with_how_to_fix_it(project_env) -> None:
    result = run_cli(
        ["run", "--model", "qwen2.5-vl-3b", "--task", "synth_vqa_en", "--max-samples", "2"], project_env
    )
    assert result.returncode == 1
    assert "cannot run here" in result.stderr and "model_path" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_ocr_rules_on_the_real_demo_mini_folder(project_env, capsys) -> None:
    code, out, err = run_vlmbench(["run", "--model", "ocr-rules", "--dataset", str(DEMO_MINI)], capsys)
    assert code == 0, out + err
    assert "| anls |" in out and "| 22 |" in out
    task = ad_hoc_task_name(DEMO_MINI)
    report = Path(project_env["VLMBENCH_DATA_DIR"]) / "reports" / task / "ocr-rules" / "report.html"
    assert report.exists()
    assert f"Report: {report}" in out


def test_demo_end_to_end_on_a_small_sample(project_env, capsys) -> None:
    # `vlmbench demo` itself, in this process so that SmolLM2 loads once per test session.
    code, stdout, stderr = run_vlmbench(["demo", "--max-samples", "2"], capsys)
    assert code == 0, stdout + stderr
    data_dir = Path(project_env["VLMBENCH_DATA_DIR"])
    html = data_dir / "reports" / "leaderboard" / "leaderboard.html"
    assert f"Leaderboard: {html}" in stdout
    assert html.stat().st_size > 0
    board = (data_dir / "reports" / "leaderboard" / "leaderboard.md").read_text()
    for model in ("ocr-rules", "ocr-smollm2", "tiny-qwen2.5-vl"):
        assert f"| {model} |" in board
    for task in ("synth_vqa_en", "synth_vqa_ru", "synth_json_extraction_en", "synth_classification_en"):
        assert (data_dir / "reports" / task / "ocr-rules" / "report.html").exists()
    # Issue 7: the closing comparison was a truncated polars repr.
    assert "Paired comparison with the best model" in stdout and "| best | other |" in stdout
    assert "shape: (" not in stdout
    # Every demo task shows a real signal now: the OCR baseline gets the non-VQA tasks right.
    board_json = json.loads((data_dir / "reports" / "leaderboard" / "leaderboard.json").read_text())
    best = {section["task"]: section["best"] for section in board_json["sections"]}
    assert best["synth_classification_en"] == best["synth_page_order_en"] == "ocr-rules"
