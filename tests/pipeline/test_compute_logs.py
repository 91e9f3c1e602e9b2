"""The embedded instance's compute logs (`vlm_pipelines/defs/compute_logs.py`): each run's stdout and stderr
are kept for the UI, and every line also reaches the terminal, in order, with no helper process.

Dagster's own manager mirrors with a `tail -F` process and a watcher per stream and run; measured here, it
lost about half of the stderr lines of short captures (dagster-io/dagster#23336) and cost 30 ms of CPU in
helper processes per run. Each test runs in a process of its own, since a capture redirects the process's
file descriptors 1 and 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline.conftest import REPO_ROOT

CAPTURES = 20
QUICK = 500

WRITER = f"""
import os, subprocess, sys
import psutil
from vlm_pipelines.defs.compute_logs import ThreadMirroredComputeLogManager

manager = ThreadMirroredComputeLogManager(sys.argv[1])
helpers = set()
for number in range({CAPTURES}):
    with manager.capture_logs(["run", f"capture{{number}}"]):
        print(f"print {{number}}")
        sys.stderr.write(f"stderr {{number}}\\n")
        os.write(1, f"descriptor {{number}}\\n".encode())
        subprocess.run(["sh", "-c", f"echo child {{number}}"], check=True)
        helpers |= {{child.name() for child in psutil.Process().children(recursive=True)}}
    assert manager.is_capture_complete(["run", f"capture{{number}}"])
for number in range({QUICK}):  # short captures: the last line of each must not be lost on the way out
    with manager.capture_logs(["run", f"quick{{number}}"]):
        sys.stderr.write(f"quick {{number}}\\n")
print(f"helpers: {{sorted(helpers)}}")
"""


def python(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`script` in a Python process of its own, which must succeed."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def lines_of(number: int) -> tuple[list[str], list[str]]:
    """The stdout and stderr lines capture `number` writes."""
    return [f"print {number}", f"descriptor {number}", f"child {number}"], [f"stderr {number}"]


def test_every_line_is_kept_for_the_ui_and_reaches_the_terminal_in_order_without_helpers(
    tmp_path: Path,
) -> None:
    from vlm_pipelines.defs.compute_logs import ThreadMirroredComputeLogManager

    done = python(WRITER, str(tmp_path / "storage"))
    expected_out = [line for number in range(CAPTURES) for line in lines_of(number)[0]]
    expected_err = [line for number in range(CAPTURES) for line in lines_of(number)[1]]
    assert done.stdout.splitlines() == [*expected_out, "helpers: []"]
    assert done.stderr.splitlines() == [*expected_err, *(f"quick {number}" for number in range(QUICK))]

    manager = ThreadMirroredComputeLogManager(str(tmp_path / "storage"))
    for number in range(CAPTURES):
        logs = manager.get_log_data(["run", f"capture{number}"])
        stdout, stderr = lines_of(number)
        assert logs.stdout.decode().splitlines() == stdout
        assert logs.stderr.decode().splitlines() == stderr


def test_the_embedded_instance_keeps_a_runs_output_where_dagster_keeps_it(project_env) -> None:
    script = """
import dagster as dg
from vlm_pipelines.defs.compute_logs import ThreadMirroredComputeLogManager
from vlm_pipelines.defs.runner import prepare_dagster_home

home = prepare_dagster_home()

@dg.asset
def talkative() -> None:
    print("hello from the step")

with dg.DagsterInstance.get() as instance:
    manager = instance.compute_log_manager
    assert isinstance(manager, ThreadMirroredComputeLogManager), type(manager)
    assert manager._base_dir == str(home / "storage"), manager._base_dir
    result = dg.materialize([talkative], instance=instance)
    (captured,) = [e for e in result.all_events if e.event_type_value == "LOGS_CAPTURED"]
    log_key = manager.build_log_key_for_run(result.run_id, captured.logs_captured_data.file_key)
    logs = manager.get_log_data(log_key)
    assert "hello from the step" in logs.stdout.decode(), logs
print("checked")
"""
    done = python(script, env=project_env)
    assert done.stdout.splitlines() == ["hello from the step", "checked"]


def test_without_a_folder_or_dagster_home_the_error_names_the_key_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vlm_pipelines.defs.compute_logs import ThreadMirroredComputeLogManager

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(
        RuntimeError, match=r"^dagster.yaml: compute_logs: set config.base_dir, or DAGSTER_HOME"
    ):
        ThreadMirroredComputeLogManager.from_config_value(None, {})
    assert ThreadMirroredComputeLogManager.from_config_value(None, {"base_dir": "/somewhere"})._base_dir == (
        "/somewhere"
    )
