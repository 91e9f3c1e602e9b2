"""Submit mode for real: a Dagster webserver over the project (its own instance, runs launched as
subprocesses), and `vlmbench run --deployment URL` submitting to it through GraphQL and following the
runs to the end."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from tests.pipeline.conftest import REPO_ROOT, run_vlmbench
from tests.processes import free_port, stop_process_group

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def webserver(env: dict[str, str]):
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-m", "vlm_pipelines.definitions", "-a", "defs",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the webserver did not answer within 180 s"
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(process)


def test_run_submits_to_a_deployment_and_follows_its_runs(project_env: dict[str, str], capsys) -> None:
    home = Path(project_env["DAGSTER_HOME"])
    # The deployment launches each run at once (no daemon here), in a subprocess of the webserver.
    instance = {
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
    with webserver(project_env) as url:
        args = [
            "run",
            "--model",
            "ocr-rules",
            "--task",
            "demo_mini_vqa",
            "--max-samples",
            "2",
            "--deployment",
            url,
        ]
        code, out, err = run_vlmbench(args, capsys)
        assert code == 0, err + out
        assert out.count("submitted run") == 3 and out.count(": success") == 3
        assert f"{url}/runs/" in out

        code, out, err = run_vlmbench(
            ["run", "--model", "ocr-rules", "--dataset", "x", "--deployment", url], capsys
        )
        assert code == 2 and "--dataset cannot be sent to a deployment" in err
    with dg.DagsterInstance.get() as instance:  # the deployment's instance recorded the runs
        runs = instance.get_runs()
        assert sorted(run.job_name for run in runs) == ["datasets", "evaluate", "leaderboard_job"]
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        evaluate = next(run for run in runs if run.job_name == "evaluate")
        assert evaluate.tags["dagster/partition"] == "ocr-rules|demo_mini_vqa"
        assert evaluate.run_config["resources"]["evaluation"]["config"] == {"max_samples": 2}
    predictions = Path(project_env["VLMBENCH_DATA_DIR"]) / "predictions" / "ocr-rules" / "demo_mini_vqa"
    assert len(list(predictions.glob("*.parquet"))) >= 1


def test_an_unreachable_deployment_is_one_line(project_env: dict[str, str], capsys) -> None:
    port = free_port()
    code, out, err = run_vlmbench(
        [
            "run",
            "--model",
            "ocr-rules",
            "--task",
            "demo_mini_vqa",
            "--deployment",
            f"http://127.0.0.1:{port}",
        ],
        capsys,
    )
    assert code == 1
    assert f"cannot reach the deployment at http://127.0.0.1:{port}" in err and "Traceback" not in err
