"""Issue 7, "What a new user saw": the findings that need the real CLI, real OCR and a real Dagster
instance. The others are pinned next to their code (readers, answers, metrics, registries, inference)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.pipeline.conftest import DEMO_MINI, REPO_ROOT, demo_mini_copy, run_cli
from tests.pipeline.conftest import run_vlmbench as main
from vlm_pipelines import cli, model_registry
from vlm_pipelines.evaluation.records import PredictionManifest, read_record

VENV_BIN = str(Path(sys.executable).parent)
HANG_S = 600  # a deadline that only bounds a hang


def without_tesseract(env: dict[str, str]) -> dict[str, str]:
    """The environment of a fresh machine: a PATH that holds the venv's commands and no Tesseract."""
    return {**env, "PATH": VENV_BIN}


def missing_image_rows(count: int) -> list[str]:
    return [f"{90 + i};test;images/gone{i}.jpg;Напиши Номер;1;invoice;Номер;" for i in range(count)]


# --- the fresh machine ----------------------------------------------------------------------------


def test_without_tesseract_doctor_says_what_is_missing_and_what_russian_loses(project_env) -> None:
    result = run_cli(["doctor"], without_tesseract(project_env))
    assert result.returncode == 0, result.stderr
    assert "[--] Tesseract OCR with Russian and English: the tesseract binary is not on PATH" in result.stdout
    assert "fix: apt-get install -y tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng" in result.stdout
    assert "cannot: RapidOCR reads no Cyrillic" in result.stdout
    models = run_cli(["models"], without_tesseract(project_env))
    assert "note: RapidOCR reads no Cyrillic" in models.stdout
    assert all(len(line) <= cli.WRAP for line in models.stdout.splitlines() if line.startswith("    "))


@pytest.mark.requires("tesseract")
def test_installing_tesseract_recomputes_instead_of_reusing(project_env, capsys, monkeypatch) -> None:
    # Issue 7: after installing Tesseract a rerun printed "0 computed, 22 reused" and kept 0.000.
    from model_interface.registry import _shared_model

    args = ["run", "--model", "ocr-rules", "--task", "synth_vqa_ru", "--max-samples", "4"]
    monkeypatch.setenv("PATH", VENV_BIN)
    _shared_model.cache_clear()
    code, out, _ = main(args, capsys)
    assert code == 0 and "ocr_engine rapidocr" in out and "! RapidOCR reads no Cyrillic" in out
    monkeypatch.setenv("PATH", "/usr/bin" + os.pathsep + VENV_BIN)  # Tesseract is installed now
    _shared_model.cache_clear()
    code, out, _ = main(args, capsys)
    assert code == 0 and "ocr_engine tesseract" in out
    assert "4 computed, 0 reused" in out
    results = Path(project_env["VLMBENCH_DATA_DIR"]) / "results" / "synth_vqa_ru" / "ocr-rules"
    folders = sorted(path.parent for path in results.glob("*/sample_metrics.parquet"))
    assert len(folders) == 2, "the two engines' results must not overwrite each other"
    engines = {
        json.loads(pl.read_parquet(f / "sample_metrics.parquet")["resolved_config"][0])["ocr_engine"]
        for f in folders
    }
    assert engines == {"rapidocr", "tesseract"}
    board = (
        Path(project_env["VLMBENCH_DATA_DIR"]) / "reports" / "leaderboard" / "leaderboard.md"
    ).read_text()
    assert "tesseract 5" in board  # each result says which engine made it


# --- data never lost in silence -------------------------------------------------------------------


def test_an_empty_dataset_fails_its_task_only_and_never_breaks_the_leaderboard(
    project_env, capsys, tmp_path
) -> None:
    # Issue 7: a header-only CSV evaluated "ok", then the leaderboard raised TypeError for good.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "annotation.csv").write_text(
        (DEMO_MINI / "annotation.csv").read_text(encoding="utf-8-sig").splitlines()[0] + "\n"
    )
    code, out, err = main(["run", "--model", "ocr-rules", "--dataset", str(empty)], capsys)
    assert code == 1
    assert "FAIL dataset empty-" in out and "has no usable rows (0 read, 0 quarantined: none)" in out
    assert "Traceback" not in out + err
    code, out, err = main(
        ["run", "--model", "ocr-rules", "--task", "synth_vqa_en", "--max-samples", "3"], capsys
    )
    assert code == 0, out + err
    assert "ok   leaderboard" in out
    board = json.loads(
        (Path(project_env["VLMBENCH_DATA_DIR"]) / "reports" / "leaderboard" / "leaderboard.json").read_text()
    )
    # Issue 14: the failed task is shown as failed (not ranked) from its first run on, with the reason.
    sections = {section["task"]: section for section in board["sections"]}
    (empty_task,) = [name for name in sections if name.startswith("empty-")]
    assert sorted(sections) == sorted([empty_task, "synth_vqa_en"])
    assert "has no usable rows" in sections[empty_task]["failed"] and not sections[empty_task]["rows"]
    assert [row["n"] for row in sections["synth_vqa_en"]["rows"]] == [3]


@pytest.mark.requires("tesseract")
def test_quarantine_is_shown_and_a_failed_check_keeps_a_task_out_of_the_ranking(
    project_env, capsys, tmp_path
) -> None:
    # Issue 7: neither the CLI nor the reports gave the quarantined count; over the bound the FAIL line
    # gave no numbers, and the score still reached the leaderboard as "best".
    folder = demo_mini_copy(tmp_path / "demo_mini", missing_image_rows(3))
    code, out, err = main(["run", "--model", "ocr-rules", "--dataset", str(folder), "--quiet"], capsys)
    assert code == 0, out + err
    assert "| 22 | 25 | 3 | image not found x3 |" in out
    task = next(
        path.name
        for path in (Path(project_env["VLMBENCH_DATA_DIR"]) / "reports").iterdir()
        if path.name.startswith("demo_mini-")
    )
    report = (
        Path(project_env["VLMBENCH_DATA_DIR"]) / "reports" / task / "ocr-rules" / "report.md"
    ).read_text()
    assert "dataset: 25 rows read, 3 quarantined (image not found x3)" in report

    with (folder / "annotation.csv").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(missing_image_rows(30)[3:]) + "\n")
    code, out, err = main(["run", "--model", "ocr-rules", "--dataset", str(folder), "--quiet"], capsys)
    assert code == 1
    assert f"FAIL dataset {task}" in out
    assert (
        "dataset check quarantine_share failed: 30 of 52 rows quarantined (57.7%; bound 20%): image not found x30"
        in out
    )
    assert f"ocr-rules x {task}" not in out, "a dataset that failed its check must not be evaluated"
    code, out, err = main(
        ["run", "--model", "ocr-rules", "--task", "synth_vqa_en", "--max-samples", "2", "--quiet"], capsys
    )
    board = json.loads(
        (Path(project_env["VLMBENCH_DATA_DIR"]) / "reports" / "leaderboard" / "leaderboard.json").read_text()
    )
    section = next(section for section in board["sections"] if section["task"] == task)
    assert section["failed"].startswith("quarantine_share: 30 of 52 rows quarantined")
    assert section["best"] == "" and section["rows"][0]["vs best (anls)"] == "not ranked"


def test_a_broken_task_file_breaks_only_what_needs_it(project_env, tmp_path, capsys, monkeypatch) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(REPO_ROOT / "registry", registry)
    (registry / "tasks" / "broken.yaml").write_text("name: broken\ndataset: {path: x}\nmetrics: [nope]\n")
    monkeypatch.setenv("VLMBENCH_REGISTRY_DIR", str(registry))
    code, out, _ = main(["tasks"], capsys)
    assert code == 1 and "synth_vqa_en" in out
    assert "BROKEN " in out and "broken.yaml: task 'broken': metrics: unknown metric(s) ['nope']" in out
    folder = demo_mini_copy(tmp_path / "demo_mini")
    code, out, err = main(
        ["run", "--model", "ocr-rules", "--dataset", str(folder), "--quiet", "--max-samples", "2"], capsys
    )
    assert code == 0, out + err
    code, out, err = main(["run", "--model", "ocr-rules", "--task", "broken"], capsys)
    assert code == 2 and "broken.yaml: task 'broken': metrics" in err and "\n" not in err.strip()


def test_entries_of_an_optional_package_that_is_not_installed_are_not_called_broken(
    project_env, tmp_path, capsys, monkeypatch
) -> None:
    """A fresh clone's `uv run vlmbench demo` leaves out model-vllm (an extra), and printed every vLLM entry
    of the registry as broken, twice. Here model-vllm is installed (`.ci/run` syncs the extra), so a package
    that is not installed anywhere stands in for it."""
    registry = tmp_path / "registry"
    shutil.copytree(REPO_ROOT / "registry", registry)
    (registry / "models" / "optional.yaml").write_text("- name: needs-optional\n  model: optional-model-x\n")
    monkeypatch.setenv("VLMBENCH_REGISTRY_DIR", str(registry))
    optional = {**model_registry.OPTIONAL_MODEL_PACKAGES, "model-not-installed": "extra-x"}
    monkeypatch.setattr(model_registry, "OPTIONAL_MODEL_PACKAGES", optional)
    code, out, err = main(["models"], capsys)
    listed = [line for line in " ".join(out.split()).split("not installed: ")[1:] if "needs-optional" in line]
    assert code == 0 and listed and "install: uv sync --extra extra-x" in listed[0]

    cli._warn_registry_errors(model_registry.load_model_registry())  # what the demo prints before it runs
    assert "needs-optional" not in capsys.readouterr().err
    code, out, err = main(["run", "--model", "needs-optional", "--task", "synth_vqa_en"], capsys)
    assert code == 1 and "\n" not in err.strip()
    assert "model-not-installed is not installed" in err and "uv sync --extra extra-x" in err

    # With no optional package left out, an id no package registers is a broken entry, named at every demo.
    monkeypatch.setattr(model_registry, "OPTIONAL_MODEL_PACKAGES", {})
    cli._warn_registry_errors(model_registry.load_model_registry())
    err = capsys.readouterr().err
    assert (
        "skipped a broken registry entry:" in err and "optional.yaml[0]: model entry 'needs-optional'" in err
    )
    assert "model: unknown model id 'optional-model-x'" in err


# --- errors for people ----------------------------------------------------------------------------


def test_user_errors_are_one_line_and_debug_shows_the_traceback(project_env, capsys) -> None:
    args = [
        "run",
        "--model",
        "ocr-rules",
        "--task",
        "synth_vqa_en",
        "--set",
        "dataset.synthetic.n_documents=lots",
    ]
    code, out, err = main(args, capsys)
    assert code == 1
    assert err.startswith(
        "vlmbench: error: task 'synth_vqa_en' with --set dataset.synthetic.n_documents=lots"
    )
    assert "dataset.synthetic.n_documents: Input should be a valid integer" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(ValueError, match="n_documents"):
        cli.main(["--debug", *args])
    code, out, err = main(
        ["run", "--model", "ocr-rules", "--task", "synth_vqa_en", "--gen", "max_tokens=3"], capsys
    )
    assert code == 2 and "--gen: unknown key(s) ['max_tokens']" in err


def test_set_makes_a_synthetic_task_larger(project_env, capsys) -> None:
    # Issue 7: synth_vqa_en was fixed at 8 documents and --max-samples could only lower that.
    code, out, err = main(
        [
            "run",
            "--model",
            "ocr-rules",
            "--task",
            "synth_classification_en",
            "--set",
            "dataset.synthetic.n_documents=15",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, out + err
    # Issue 14: the changed task is a task of its own; synth_classification_en keeps its own dataset.
    assert re.search(r"\| synth_classification_en-[0-9a-f]{8} \| ok \| 15 \| 15 \| 0 \| none \|", out), out


def test_ctrl_c_stops_the_whole_command_with_130_and_a_rerun_resumes(project_env, capsys) -> None:
    args = [
        "run",
        "--model",
        "ocr-rules",
        "--task",
        "synth_vqa_en",
        "--max-samples",
        "16",
        "--batch-size",
        "2",
    ]
    batches = Path(project_env["VLMBENCH_DATA_DIR"]) / "predictions" / "ocr-rules" / "synth_vqa_en"
    process = subprocess.Popen(
        [sys.executable, "-m", "vlm_pipelines.cli", *args],
        cwd=REPO_ROOT,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + HANG_S  # only bounds a hang
    while not list(batches.glob("batch-*.parquet")) and process.poll() is None:
        assert time.monotonic() < deadline, "no batch was written"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # with 14 of 16 samples to go: the run has not finished
    out, err = process.communicate(timeout=HANG_S)
    assert process.returncode == 130, out + err
    assert "interrupted; run the same command again to resume" in err
    assert "ok   leaderboard" not in out and "Traceback" not in err
    kept = {path.name: path.stat().st_mtime_ns for path in batches.glob("batch-*.parquet")}
    answered = sum(pl.read_parquet(batches / name).height for name in kept)
    code, out, err = main(args, capsys)  # the rerun, in this process
    assert code == 0, out + err
    # The rerun reused every answer the interrupted run stored and computed only the rest.
    assert {name: (batches / name).stat().st_mtime_ns for name in kept} == kept
    rerun = max(
        (
            run
            for path in (batches / "manifests").glob("*.json")
            for run in read_record(PredictionManifest, path).runs
        ),
        key=lambda run: run.started_ns,
    )
    assert 2 <= answered < 16 and (rerun.reused, rerun.computed) == (answered, 16 - answered)


@pytest.mark.parametrize("command", ["dev", "chat"])
def test_a_server_command_exits_with_a_message_when_its_port_is_taken(project_env, command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # It exits by itself (the timeout only bounds a hang) instead of serving or retrying.
        result = run_cli([command, "--port", str(port)], project_env, timeout=HANG_S)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "pass --port" in result.stderr


# --- the repository -------------------------------------------------------------------------------


def test_every_environment_variable_the_code_reads_is_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.split()
    names = set()
    for path in tracked:
        text = (REPO_ROOT / path).read_text(encoding="utf-8")
        if path.startswith(("tests/", "bench/")) or "/tests/" in path:
            continue
        names |= {word for word in _env_names(text)}
    assert names, "expected the settings module's variables"
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"not documented in README.md: {missing}"


def _env_names(text: str) -> set[str]:
    import re

    return set(re.findall(r"environ(?:\.get)?\(?\[?\"((?:VLMBENCH|DAGSTER)_[A-Z_]+)\"", text))


def test_no_tracked_file_needs_the_shared_folder_beside_the_clone() -> None:
    # Issue 7: 28 tests skipped silently because ../shared was not beside a fresh clone.
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.split()
    offenders = [
        path
        for path in tracked
        if path.endswith((".py", ".yaml", ".md", ".toml", ".cfg"))
        and "../shared" in (REPO_ROOT / path).read_text(encoding="utf-8", errors="replace")
        and path != "tests/pipeline/test_new_user_findings.py"
    ]
    assert not offenders, offenders
    assert (REPO_ROOT / "data" / "vlmhyperbench_sample" / "demo_mini" / "annotation.csv").is_file()


def test_dagster_definitions_validate_reports_a_broken_task_in_one_line(project_env, tmp_path) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(REPO_ROOT / "registry", registry)
    (registry / "tasks" / "broken.yaml").write_text("name: broken\ndataset: {path: x}\nmetrics: [nope]\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-m",
            "vlm_pipelines.definitions",
        ],
        cwd=REPO_ROOT,
        env={**project_env, "VLMBENCH_REGISTRY_DIR": str(registry)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output  # the other tasks still load
    lines = [line for line in output.splitlines() if "broken.yaml" in line]
    assert (
        len(lines) == 1 and "registry entry skipped:" in lines[0] and "unknown metric(s) ['nope']" in lines[0]
    )
