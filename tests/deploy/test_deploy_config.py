"""The deployment files validate with the tools that will read them: Dagster's instance schema (with
dagster-docker's and dagster-k8s's launcher schemas), dagster-k8s's run-tag schema, `docker compose config`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from vlm_pipelines.deploy.instance_config import with_gpu_limit
from vlm_pipelines.gpus import k8s_gpu_config

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER = REPO_ROOT / "docker"


def _validated_instance(config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Loads `config` as $DAGSTER_HOME/dagster.yaml the way Dagster does (schema and each configurable
    class's own config), and builds its run launcher."""
    import dagster as dg
    from dagster._core.instance.config import dagster_instance_config

    for name in (
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_DB",
        "VLMBENCH_IMAGE",
    ):
        monkeypatch.setenv(name, "vlmbench")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    loaded, _ = dagster_instance_config(str(tmp_path))
    launcher = loaded["run_launcher"]
    module = __import__(launcher["module"], fromlist=[launcher["class"]])
    launcher_class = getattr(module, launcher["class"])
    result = dg._config.process_config(launcher_class.config_type(), launcher["config"])  # noqa: SLF001
    assert result.success, result.errors
    return loaded


def test_the_docker_instance_validates_and_its_inference_limit_is_the_gpu_count(
    tmp_path, monkeypatch
) -> None:
    config = yaml.safe_load((DOCKER / "dagster.yaml").read_text(encoding="utf-8"))
    loaded = _validated_instance(with_gpu_limit(config, 4), tmp_path, monkeypatch)
    limits = loaded["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "vlmbench/gpu-run", "value": "true", "limit": 4} in limits
    assert loaded["run_launcher"]["class"] == "GpuDockerRunLauncher"
    assert loaded["run_launcher"]["config"]["network"] == "host"
    assert "device_requests" not in loaded["run_launcher"]["config"]["container_kwargs"]  # per run only
    assert loaded["run_coordinator"]["class"] == "GpuQueuedRunCoordinator"
    # run containers get the model service's key, for openai-compatible entries that send it
    assert "VLMBENCH_SERVICE_API_KEY" in loaded["run_launcher"]["config"]["env_vars"]
    assert "pools" not in loaded["concurrency"]  # one slot would serialise the GPU runs
    # No GPU for runs: no limit (a GPU run fails at launch with the reason instead of waiting for ever).
    assert with_gpu_limit(config, 0)["concurrency"]["runs"]["tag_concurrency_limits"] == []


def test_the_gpu_run_tag_validates_with_dagster_k8s() -> None:
    import dagster as dg
    from dagster_k8s.job import USER_DEFINED_K8S_JOB_CONFIG_SCHEMA

    # The instance the Helm chart renders: tests/deploy/test_kubernetes.py.
    documented = yaml.safe_load((DOCKER / "k8s" / "inference-run-tag.yaml").read_text(encoding="utf-8"))
    assert k8s_gpu_config(1) == documented
    for gpus in (1, 2, 8):
        tag = json.loads(json.dumps(k8s_gpu_config(gpus)))  # as the run coordinator writes it
        result = dg._config.process_config(USER_DEFINED_K8S_JOB_CONFIG_SCHEMA, tag)  # noqa: SLF001
        assert result.success, result.errors
        assert tag["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)


def test_a_runs_gpus_come_from_its_partition_and_assets_for_both_launchers() -> None:
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    from vlm_pipelines.deploy.run_coordinator import placement_tags, run_gpus
    from vlm_pipelines.model_registry import ad_hoc_model

    models = {name: ad_hoc_model(name) for name in ("qwen2.5-vl-3b", "ocr-rules")}

    def run(job: str, model: str, assets=None) -> DagsterRun:
        tags = {"dagster/partition": f"{model}|demo_mini_vqa"}
        return DagsterRun(job_name=job, tags=tags, asset_selection=assets)

    assert run_gpus(run("inference", "qwen2.5-vl-3b"), models) == 1
    assert run_gpus(run("evaluate", "qwen2.5-vl-3b"), models) == 1
    assert run_gpus(run("scoring", "qwen2.5-vl-3b"), models) == 0
    assert run_gpus(run("inference", "ocr-rules"), models) == 0
    asset_job = "__ASSET_JOB"  # the UI's Materialize button
    assert run_gpus(run(asset_job, "qwen2.5-vl-3b", {dg.AssetKey("predictions")}), models) == 1
    assert run_gpus(run(asset_job, "qwen2.5-vl-3b", {dg.AssetKey("task_report")}), models) == 0
    assert run_gpus(run("inference", "not-in-the-registry"), models) == 0
    tags = placement_tags(1)
    assert (tags["vlmbench/gpus"], tags["vlmbench/gpu-run"]) == ("1", "true")
    assert json.loads(tags["dagster-k8s/config"]) == k8s_gpu_config(1)
    assert placement_tags(0) == {
        "vlmbench/gpus": "0",
        "vlmbench/gpu-run": "false",
        "vlmbench/gpu_devices": "",
        "vlmbench/gpu_holder": "",
    }


@pytest.mark.requires("docker-compose")
def test_docker_compose_config_validates_and_keeps_the_service_gpus_from_runs() -> None:
    def config(**env: str) -> subprocess.CompletedProcess:
        command = [shutil.which("docker") or "docker", "compose", "-f", str(DOCKER / "compose.yaml"),
                   "--profile", "release_tags", "config", "--format", "json"]  # fmt: skip
        environment = {key: value for key, value in os.environ.items() if not key.startswith("VLMBENCH_")}
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env={**environment, **env}
        )

    unkeyed = config()
    assert unkeyed.returncode != 0 and "set VLMBENCH_SERVICE_API_KEY" in unkeyed.stderr
    done = config(VLMBENCH_SERVICE_API_KEY="secret", VLMBENCH_SERVICE_GPUS="3")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert set(services) == {
        "postgres", "code_location", "webserver", "daemon", "chat", "model_service", "release_tags"
    }  # fmt: skip
    assert all(service["network_mode"] == "host" for service in services.values())  # never the default bridge
    (gpus,) = services["daemon"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpus["capabilities"] == ["gpu"] and gpus["count"] == -1  # the daemon counts them all
    (served,) = services["model_service"]["deploy"]["resources"]["reservations"]["devices"]
    assert served["device_ids"] == ["3"]
    for name in ("daemon", "webserver", "code_location"):  # runs are never given the service's GPU
        assert services[name]["environment"]["VLMBENCH_RESERVED_GPUS"] == "3"
    for name in ("model_service", "daemon", "chat"):  # it requires the key; runs and the chat send it
        assert services[name]["environment"]["VLMBENCH_SERVICE_API_KEY"] == "secret"
    default = json.loads(config(VLMBENCH_SERVICE_API_KEY="secret").stdout)["services"]
    assert default["daemon"]["environment"]["VLMBENCH_RESERVED_GPUS"] == "0"


def test_the_apptainer_definition_builds_from_the_prod_image_and_runs_vlmbench() -> None:
    # Apptainer is not installed here: the definition's structure is checked as apptainer parses it
    # (a header of `Key: value` lines, then `%section` blocks).
    text = (DOCKER / "apptainer.def").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    header = {}
    for line in lines:
        if line.startswith("%"):
            break
        key, _, value = line.partition(":")
        header[key.strip()] = value.strip()
    sections = [line.split()[0] for line in lines if line.startswith("%")]
    assert header == {"Bootstrap": "docker-archive", "From": "vlmbench.tar"}
    assert sections == ["%environment", "%post", "%runscript", "%test", "%labels"]
    assert 'exec vlmbench "$@"' in text and "HF_HUB_OFFLINE=1" in text
