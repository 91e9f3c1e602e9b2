"""The real `dagster` CLI: `dagster job execute` from a fresh DAGSTER_HOME, and `dagster dev` answering HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.pipeline.conftest import REPO_ROOT
from tests.processes import free_port

DAGSTER = str(Path(sys.executable).with_name("dagster"))
VLMBENCH = str(Path(sys.executable).with_name("vlmbench"))
MODEL, TASK = "ocr-rules", "synth_vqa_en"
# Only bounds a hang: on SIGTERM `dagster dev` waits up to 60 s for its webserver, then up to 60 s for its
# daemon, before killing either, and a loaded machine can use all of that.
HANG_S = 600


def dagster_job(job: str, tags: dict[str, str], env: dict[str, str]) -> subprocess.CompletedProcess:
    # The README's recipe, verbatim apart from the job and tags.
    command = [DAGSTER, "job", "execute", "-m", "vlm_pipelines.definitions", "-a", "defs", "-j", job]
    return subprocess.run(
        [*command, "--tags", json.dumps(tags)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_dagster_job_execute_runs_one_partition_from_a_fresh_home(project_env) -> None:
    data_dir = Path(project_env["VLMBENCH_DATA_DIR"])
    datasets = dagster_job("datasets", {"dagster/partition": TASK}, project_env)
    assert datasets.returncode == 0, datasets.stdout[-3000:] + datasets.stderr[-3000:]
    evaluate = dagster_job(
        "evaluate",
        {
            "dagster/partition": f"{MODEL}|{TASK}",
            "dagster/partition/model": MODEL,
            "dagster/partition/task": TASK,
        },
        project_env,
    )
    assert evaluate.returncode == 0, evaluate.stdout[-3000:] + evaluate.stderr[-3000:]
    assert "RUN_SUCCESS" in evaluate.stdout + evaluate.stderr
    assert (data_dir / "reports" / TASK / MODEL / "report.html").exists()
    assert list((data_dir / "results" / TASK / MODEL).glob("*/sample_metrics.parquet"))
    # The runs are in the instance under DAGSTER_HOME.
    assert list((Path(project_env["DAGSTER_HOME"]) / "storage").iterdir())


def _from_a_terminal() -> None:
    """The signal dispositions of a command typed in a terminal. A pytest-xdist worker ignores SIGINT, and
    after an in-process Dagster run SIGTERM too (Dagster maps SIGTERM to SIGINT's handler); a child inherits
    ignored signals, and `dagster dev` started so ignores SIGTERM: that, not the machine's load, was this
    test's hang."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def _ignoring_both() -> None:
    """As `vlmbench dev &` in a script (SIGINT ignored), from a parent that ignores SIGTERM as well."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("command", "start"),
    [
        pytest.param([DAGSTER, "dev", "-w", "workspace.yaml", "-h"], _from_a_terminal, id="dagster-dev"),
        pytest.param([VLMBENCH, "dev", "--host"], _ignoring_both, id="vlmbench-dev-with-signals-ignored"),
    ],
)
def test_dagster_dev_serves_the_ui_and_stops_by_process_group(project_env, command, start) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*command, "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=project_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=start,
    )
    members: list[psutil.Process] = []
    try:
        deadline, status, body = time.monotonic() + HANG_S, None, ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    status, body = response.status, response.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert status == 200, f"dagster dev did not answer in {HANG_S} s (exit code {process.poll()})"
        assert "dagster_webserver_version" in body
        query = {"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps(query).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=HANG_S) as response:
            assert "__repository__" in response.read().decode()
        members = group_members(process.pid)
        assert len(members) >= 3  # dagster dev, its webserver and its daemon (and code servers)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=HANG_S)  # dagster dev returns once it has stopped its children
            left = wait_gone(members, HANG_S)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # SIGTERM to the process group stops the webserver, the daemon and the code server: nothing is left.
    assert process.returncode == 0 and not left, f"left after SIGTERM: {left}"


def wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Waits until each process has exited (a zombie has); returns those still running at `timeout_s`."""
    deadline, alive = time.monotonic() + timeout_s, processes
    while alive and time.monotonic() < deadline:
        _, alive = psutil.wait_procs(alive, timeout=1)
        alive = [p for p in alive if not is_zombie(p)]
    return alive


def is_zombie(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def group_members(group: int) -> list[psutil.Process]:
    """The live processes of a process group."""
    members = []
    for candidate in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(candidate.pid) == group:
                members.append(candidate)
    return members
