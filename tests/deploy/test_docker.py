"""A Dagster run launched by `GpuDockerRunLauncher` on a real Docker engine, against a real Postgres.

The engine is started by the test (vfs storage, `--bridge=none`, no iptables; containers use the host
network, never the default bridge) and removed afterwards. Nothing can be pulled, so the image is built
here: a skeleton root file system into which the container mounts this host's /usr and /etc read-only
(this machine's Python and the project's venv), the repository read-only and the data folder. There is no
GPU: the inference launch is checked on the container the engine created (its `DeviceRequests`), and the
engine's refusal to start it without an NVIDIA runtime is the expected end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.docker_engine import running_dockerd, skeleton_image

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "vlmbench-test:local"

pytestmark = [pytest.mark.slow, pytest.mark.requires("docker", "postgres")]


@pytest.fixture(scope="module")
def docker_host():
    if os.geteuid() != 0:
        reason = "starting a Docker engine needs root here (dockerd); run the suite as root, as CI does"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)  # under CI a missing component fails (tests/conftest.py's rule)
        pytest.skip(reason)
    with running_dockerd() as host:
        yield host


def _host_python_mounts() -> list[str]:
    """This host's /usr and /etc read-only, and the interpreter the venv was made from (pyenv, uv or
    /usr/local) where they do not hold it already (Docker refuses a mount point given twice)."""
    mounts = ["/usr:/usr:ro", "/etc:/etc:ro"]
    python = Path(sys.base_prefix)
    if not any(python.is_relative_to(root) for root in ("/usr", "/etc")):
        mounts.append(f"{python}:{python}:ro")
    return mounts


def _instance_yaml(postgres_url: str, data_dir: Path, home: Path) -> dict:
    mounts = [
        *_host_python_mounts(),
        f"{REPO_ROOT}:{REPO_ROOT}:ro",
        f"{data_dir}:{data_dir}",
        f"{home}:{home}",
    ]
    return {
        "storage": {"postgres": {"postgres_url": postgres_url}},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "run_launcher": {
            "module": "vlm_pipelines.deploy.docker_launcher",
            "class": "GpuDockerRunLauncher",
            "config": {
                "image": IMAGE,
                "network": "host",
                "env_vars": [
                    "VLMBENCH_DATA_DIR",
                    "HOME=/tmp",
                    "PYTHONDONTWRITEBYTECODE=1",
                    f"PATH={Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                ],
                "container_kwargs": {"volumes": mounts, "working_dir": str(REPO_ROOT)},
            },
        },
        "telemetry": {"enabled": False},
    }


def test_a_run_executes_in_a_container_and_an_inference_run_asks_for_its_gpu(
    docker_host: str, postgres_url: str, project_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker

    monkeypatch.setenv("DOCKER_HOST", docker_host)
    client = docker.DockerClient(base_url=docker_host)
    skeleton_image(client, IMAGE)
    home, data_dir = Path(project_env["DAGSTER_HOME"]), Path(project_env["VLMBENCH_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(_instance_yaml(postgres_url, data_dir, home)), encoding="utf-8"
    )
    env = {**project_env, "DOCKER_HOST": docker_host}
    try:
        # 1. A datasets run, launched by the real `dagster` CLI through the instance's run launcher.
        launched = subprocess.run(
            [str(Path(sys.executable).with_name("dagster")), "job", "launch", "-m", "vlm_pipelines.definitions",
             "-a", "defs", "-j", "datasets", "--tags", json.dumps({"dagster/partition": "demo_mini_vqa"})],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert launched.returncode == 0, launched.stderr[-3000:]
        with dg.DagsterInstance.get() as instance:
            (run,) = instance.get_runs()
            (container,) = client.containers.list(all=True, filters={"label": f"dagster/run_id={run.run_id}"})
            deadline = time.monotonic() + 300
            while not instance.get_run_by_id(run.run_id).is_finished:
                container.reload()
                logs = container.logs().decode(errors="replace")[-3000:]
                assert container.status in ("created", "running"), f"the container {container.status}: {logs}"
                assert time.monotonic() < deadline, f"the container's run did not finish in 300 s: {logs}"
                time.sleep(1)
            run = instance.get_run_by_id(run.run_id)
            logs = container.logs().decode(errors="replace")[-3000:]
            assert run.status == dg.DagsterRunStatus.SUCCESS, logs
            assert container.attrs["HostConfig"]["NetworkMode"] == "host"
            assert not container.attrs["HostConfig"].get("DeviceRequests")  # a CPU run holds no GPU
            records = instance.get_records_for_run(run.run_id).records
            kinds = {
                record.event_log_entry.dagster_event_type
                for record in records
                if record.event_log_entry.dagster_event_type
            }
            assert (
                dg.DagsterEventType.ASSET_MATERIALIZATION in kinds
                and dg.DagsterEventType.RUN_SUCCESS in kinds
            )
            materialized = instance.get_latest_materialization_event(dg.AssetKey("dataset"))
            assert (
                materialized.run_id == run.run_id and materialized.dagster_event.partition == "demo_mini_vqa"
            )
        assert (
            data_dir / "datasets" / "demo_mini_vqa" / "samples.parquet"
        ).is_file()  # written in the container

        # 2. An inference run on a simulated one-GPU host: the engine records the pinned device request.
        from dagster._core.code_pointer import ModuleCodePointer
        from dagster._core.launcher import LaunchRunContext
        from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
        from dagster._core.test_utils import create_run_for_test

        from vlm_pipelines.gpus import DEVICES_TAG, GPUS_TAG, Gpu

        with dg.DagsterInstance.get() as instance:
            launcher = instance.run_launcher
            launcher.gpus = [Gpu(0, "GPU-00000000-test")]
            origin = JobPythonOrigin(
                "inference",
                RepositoryPythonOrigin(
                    sys.executable, ModuleCodePointer("vlm_pipelines.definitions", "defs", str(REPO_ROOT))
                ),
            )
            inference = create_run_for_test(
                instance, job_name="inference", tags={GPUS_TAG: "1"}, job_code_origin=origin
            )
            with pytest.raises(docker.errors.APIError, match="nvidia"):
                launcher.launch_run(LaunchRunContext(dagster_run=inference, workspace=None))
            assert instance.get_run_by_id(inference.run_id).tags[DEVICES_TAG] == "GPU-00000000-test"
        (created,) = client.containers.list(all=True, filters={"label": f"dagster/run_id={inference.run_id}"})
        (request,) = created.attrs["HostConfig"]["DeviceRequests"]
        assert request["Driver"] == "nvidia" and request["DeviceIDs"] == ["GPU-00000000-test"]
        assert request["Capabilities"] == [["gpu"]]
    finally:
        for leftover in client.containers.list(all=True):
            leftover.remove(force=True)
        client.images.remove(IMAGE, force=True)
        client.close()


def test_a_release_tag_run_answers_in_a_container_through_pipes_docker(
    docker_host: str, project_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`VLMBENCH_TAG_RUNNER=docker`: the Pipes worker runs in a container on the local engine. The tag's
    image is stood in for by the skeleton image with the tag's environment mounted (no prod image can be
    built here: its CUDA base cannot be pulled)."""
    import docker
    from tests.deploy.ocr_demo import ocr_demo
    from vlm_pipelines.release_env import tag_environment
    from vlm_pipelines.release_tags import list_release_tags

    repo = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(repo)], check=True)
    version = tomllib.loads((repo / "model_packages" / "model-ocr" / "pyproject.toml").read_text())[
        "project"
    ]["version"]  # the checkout's release: the tag names it
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "tag", "-f", "-a",
                    f"model-ocr/v{version}", "-m", "release"], check=True)  # fmt: skip
    # The clone also holds the tags at its commit (another package's release): this test runs model-ocr's.
    (tag,) = [tag for tag in list_release_tags(repo) if tag.name == f"model-ocr/v{version}"]
    environment = tag_environment(tag, repo, tmp_path / "envs")  # what the tag's image would hold
    client = docker.DockerClient(base_url=docker_host)
    skeleton_image(client, IMAGE)
    volumes = [*_host_python_mounts(), f"{tmp_path / 'envs'}:{tmp_path / 'envs'}:ro"]
    for name, value in {
        "DOCKER_HOST": docker_host,
        "VLMBENCH_RELEASE_REPO": str(repo),
        "VLMBENCH_TAG_RUNNER": "docker",
        "VLMBENCH_TAG_IMAGE": IMAGE,
        "VLMBENCH_TAG_PYTHON": str(environment.python),
        "VLMBENCH_TAG_VOLUMES": ",".join(volumes),
    }.items():
        monkeypatch.setenv(name, value)
    demo = ocr_demo(max_samples=2)
    tags = {"vlmbench/release_tag": tag.name, "vlmbench/release_commit": tag.commit}
    try:
        with dg.DagsterInstance.get() as instance:
            demo.prepare_dataset(instance)
            result = demo.defs.resolve_job_def("evaluate").execute_in_process(
                partition_key=demo.partition, instance=instance, tags=tags, raise_on_error=False,
            )  # fmt: skip
            messages = [
                record.event_log_entry.user_message
                for record in instance.get_records_for_run(result.run_id).records
            ]
        assert result.success, "\n".join(messages[-20:])
        (event,) = [
            e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("predictions")
        ]
        metadata = {
            key: getattr(value, "value", value) for key, value in event.materialization.metadata.items()
        }
        assert metadata["tag_image"] == IMAGE and metadata["package_version"] == version
        assert metadata["resolved_versions"]["model-ocr"] == version
        assert any(
            f"tag environment: model-ocr {version}" in message for message in messages
        )  # the worker's Pipes log
    finally:
        for leftover in client.containers.list(all=True):
            leftover.remove(force=True)
        client.images.remove(IMAGE, force=True)
        client.close()
