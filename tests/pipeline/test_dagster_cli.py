"""The real `dagster` CLI: `dagster job execute` from a fresh DAGSTER_HOME, and `dagster dev` answering HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.pipeline.conftest import REPO_ROOT
from tests.processes import free_port

DAGSTER = str(Path(sys.executable).with_name("dagster"))
MODEL, TASK = "ocr-rules", "synth_vqa_en"


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


def test_dagster_dev_serves_the_ui_and_stops_by_process_group(project_env) -> None:
    port = free_port()
    process = subprocess.Popen(
        [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=project_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, status, body = time.monotonic() + 120, None, ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    status, body = response.status, response.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert status == 200, "dagster dev did not answer in 120 s"
        assert "dagster_webserver_version" in body
        query = {"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps(query).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert "__repository__" in response.read().decode()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        stopped = group_gone(process, timeout=60)
        if not stopped:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # SIGTERM to the process group stops the webserver, the daemon and the code server: nothing is left.
    assert stopped, "dagster dev's process group outlived SIGTERM by 60 s"


def group_gone(process: subprocess.Popen, timeout: float) -> bool:
    """True once no process of `process`'s group (its session) is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
