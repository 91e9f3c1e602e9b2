"""The `vlmbench` command: listings, errors, one evaluation, and the demo end to end."""

from __future__ import annotations

import json
import re
import tomllib
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
    version = tomllib.loads((REPO_ROOT / "model_packages" / "model-hf" / "pyproject.toml").read_text())
    assert f"model-hf {version['project']['version']}" in result.stdout  # the checkout's release
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
    # Issue 20: ocr-smollm2 runs on the demo tasks its registry entry lists, and the demo says so.
    with_reader = {
        section["task"]
        for section in board_json["sections"]
        if any(row["model"] == "ocr-smollm2" for row in section["rows"])
    }
    assert with_reader == {"synth_vqa_en"}
    assert "ocr-smollm2 runs on synth_vqa_en only in the demo" in " ".join(stdout.split())
    assert re.search(r"vlmbench demo: done in \d+ min \d+ s", stdout)  # the demo prints its wall time


def test_a_demo_list_naming_no_demo_task_is_refused_with_the_fix() -> None:
    from vlm_pipelines.cli import UsageError, demo_tasks_of
    from vlm_pipelines.model_registry import EvaluatedModel

    models = {
        "fast": EvaluatedModel(name="fast", model="ocr-rules", demo=True),
        "slow": EvaluatedModel(name="slow", model="ocr-smollm2", demo=["synth_vqa_en"]),
    }
    assert demo_tasks_of(models, {"synth_vqa_en": None, "synth_vqa_ru": None}) == {
        "slow": frozenset({"synth_vqa_en"})
    }
    with pytest.raises(UsageError, match=r"'slow': `demo` lists 'synth_vqa_en'.*write `demo: true`"):
        demo_tasks_of(models, {"synth_vqa_ru": None})


# --- issue 17: lmms-eval habits ------------------------------------------------------------------------


def _exit_code_and_streams(args: list[str], capsys) -> tuple[int, str, str]:
    """`vlmbench ARGS` in this process, where argparse's own exits (usage errors, --help) are SystemExit."""
    from vlm_pipelines import cli

    try:
        code = cli.main(args)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["run", "--model", "ocr-rules", "--bogus"], "usage: vlmbench run "),
        (["demo", "--bogus"], "usage: vlmbench demo "),
        (["results", "list", "--bogus"], "usage: vlmbench results list "),
        (["results", "export", "abc", "--out", "x.csv", "--bogus"], "usage: vlmbench results export "),
    ],
)
def test_a_bad_flag_prints_the_subcommands_own_usage_and_one_error_line(capsys, args, usage) -> None:
    code, out, err = _exit_code_and_streams(args, capsys)
    assert code == 2
    assert err.startswith(usage)
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert errors == [f"{usage.split('usage: ')[1].strip()}: error: unrecognized arguments: --bogus"]


def test_help_texts_are_whole_sentences(capsys) -> None:
    from vlm_pipelines import cli

    code, out, _ = _exit_code_and_streams(["--help"], capsys)
    assert code == 0
    first_paragraph = " ".join(cli.__doc__.split("\n\n")[0].split())
    assert first_paragraph.endswith("serve models over HTTP.")
    assert first_paragraph in " ".join(out.split())
    code, out, _ = _exit_code_and_streams(["run", "--help"], capsys)
    assert "Evaluate models on tasks or on a dataset folder." in " ".join(out.split())
    assert "--limit" in out and "VLMBENCH_MLFLOW" in out


def test_models_and_tasks_are_lists_and_limit_is_max_samples() -> None:
    from vlm_pipelines import cli

    args = cli.build_parser().parse_args(
        ["run", "--model", "a,b", "--model", "c", "--tasks", "x,y", "--limit", "3", "--seed", "7"]
    )
    assert cli.names(args.model) == ["a", "b", "c"]
    assert cli.names(args.task) == ["x", "y"]
    assert (args.max_samples, args.seed) == (3, 7)
    assert cli.build_parser().parse_args(["demo", "--limit", "5"]).max_samples == 5
    assert cli.build_parser().parse_args(["demo"]).max_samples == 24


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "--model", "ocr-rules", "--task", "snils_vqa", "--log-samples"],
            "--log-samples needs --output",
        ),
        (
            ["run", "--model", "ocr-rules", "--task", "snils_vqa", "--deployment", "http://127.0.0.1:9"]
            + ["--output", "out"],
            "--output cannot be used with --deployment",
        ),
        (
            ["run", "--model", "ocr-rules", "--task", "snils_vqa", "--deployment", "http://127.0.0.1:9"]
            + ["--seed", "3"],
            "--seed cannot be sent to a deployment",
        ),
    ],
)
def test_run_options_that_cannot_apply_are_refused(project_env, capsys, args, message) -> None:
    code, _, err = _exit_code_and_streams(args, capsys)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_mlflow_flag_sets_the_tracking_variable_before_the_run(project_env, capsys, monkeypatch) -> None:
    import os

    monkeypatch.setenv("VLMBENCH_MLFLOW", "")  # restored after the test
    # an unknown task stops the run after the options are read, before anything is evaluated
    code, _, err = _exit_code_and_streams(
        ["run", "--model", "ocr-rules", "--task", "nope", "--mlflow"], capsys
    )
    assert code == 2 and "unknown task 'nope'" in err
    assert os.environ["VLMBENCH_MLFLOW"] == "1"
    _exit_code_and_streams(
        ["run", "--model", "ocr-rules", "--task", "nope", "--mlflow", "file:/tmp/mlruns"], capsys
    )
    assert os.environ["VLMBENCH_MLFLOW"] == "file:/tmp/mlruns"


def test_two_models_on_two_tasks_in_one_run_with_output_and_samples(project_env, tmp_path, capsys) -> None:
    from vlm_pipelines.evaluation.archive import load_result

    out_dir = tmp_path / "out"
    code, out, err = run_vlmbench(
        ["run", "--model", "ocr-rules,tiny-qwen2.5-vl", "--task", "demo_mini_vqa", "--task", "snils_vqa"]
        + ["--limit", "1", "--output", str(out_dir), "--log-samples"],
        capsys,
    )
    assert code == 0, out + err
    pairs = [(m, t) for m in ("ocr-rules", "tiny-qwen2.5-vl") for t in ("demo_mini_vqa", "snils_vqa")]
    for model, task in pairs:
        assert f"ok   {model} x {task} " in out
    data_dir = Path(project_env["VLMBENCH_DATA_DIR"])
    assert f"Leaderboard: {data_dir / 'reports' / 'leaderboard' / 'leaderboard.html'}" in out

    summary = json.loads((out_dir / "results.json").read_text())
    assert summary["config"]["limit"] == 1
    assert [(entry["model"], entry["task"]) for entry in summary["results"]] == pairs
    for entry in summary["results"]:
        result = load_result(data_dir / "results", entry["task"], entry["model"], entry["key"])
        assert entry["n"] == result.record.n == 1
        assert entry["metrics"]["anls"]["mean"] == pytest.approx(result.record.means["anls"])
        samples = [json.loads(line) for line in (out_dir / entry["samples_file"]).read_text().splitlines()]
        assert [s["sample_id"] for s in samples] == result.sample_metrics["sample_id"].to_list()
        assert [s["anls"] for s in samples] == result.sample_metrics["anls"].to_list()
        assert all("prediction_raw" in s and "prediction" in s for s in samples)


def test_a_seed_is_part_of_the_result_key(project_env, capsys) -> None:
    from model_interface import GenerationConfig

    from vlm_pipelines.evaluation.archive import list_results
    from vlm_pipelines.evaluation.identity import result_id

    code, out, err = run_vlmbench(
        ["run", "--model", "ocr-rules", "--task", "snils_vqa", "--limit", "1", "--seed", "7", "--quiet"],
        capsys,
    )
    assert code == 0, out + err
    (result,) = list_results(Path(project_env["VLMBENCH_DATA_DIR"]) / "results")
    record = result.record
    assert record.generation["seed"] == 7
    assert record.model_name.startswith("ocr-rules-")  # an entry of its own: the seedless result stays
    assert record.key.config_hash == GenerationConfig(**record.generation).config_hash
    seedless = record.key.model_copy(
        update={"config_hash": GenerationConfig(**{**record.generation, "seed": 0}).config_hash}
    )
    assert seedless.config_hash != record.key.config_hash
    assert result_id(record.model_name, seedless, record.sample_set) != record.result_id
