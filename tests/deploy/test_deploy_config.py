"""The deployment files validate with the tools that will read them: Dagster's instance schema (with
dagster-docker's and dagster-k8s's launcher schemas), dagster-k8s's run-tag schema, `docker compose config`."""

from __future__ import annotations

import json
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
    assert {"key": "vlmbench/inference", "limit": 4} in limits
    assert loaded["run_launcher"]["class"] == "GpuDockerRunLauncher"
    assert loaded["run_launcher"]["config"]["network"] == "host"
    assert "device_requests" not in loaded["run_launcher"]["config"]["container_kwargs"]  # per run only
    assert with_gpu_limit(config, 0)["concurrency"]["runs"]["tag_concurrency_limits"][0]["limit"] == 1


def test_the_kubernetes_instance_and_the_gpu_run_tag_validate_with_dagster_k8s(tmp_path, monkeypatch) -> None:
    import dagster as dg
    from dagster_k8s.job import USER_DEFINED_K8S_JOB_CONFIG_SCHEMA

    config = yaml.safe_load((DOCKER / "k8s" / "dagster.yaml").read_text(encoding="utf-8"))
    loaded = _validated_instance(config, tmp_path, monkeypatch)
    assert loaded["run_launcher"]["class"] == "K8sRunLauncher"
    documented = yaml.safe_load((DOCKER / "k8s" / "inference-run-tag.yaml").read_text(encoding="utf-8"))
    assert k8s_gpu_config(1) == documented
    for gpus in (1, 2, 8):
        tag = json.loads(json.dumps(k8s_gpu_config(gpus)))  # as the sensor writes it
        result = dg._config.process_config(USER_DEFINED_K8S_JOB_CONFIG_SCHEMA, tag)  # noqa: SLF001
        assert result.success, result.errors
        assert tag["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)


def test_an_inference_run_request_carries_its_gpu_count_for_both_launchers() -> None:
    from vlm_pipelines.defs.automation.sensors import partition_run_tags
    from vlm_pipelines.model_registry import ad_hoc_model

    gpu_tags = partition_run_tags(ad_hoc_model("qwen2.5-vl-3b"))
    assert gpu_tags["vlmbench/gpus"] == "1"
    assert json.loads(gpu_tags["dagster-k8s/config"]) == k8s_gpu_config(1)
    assert partition_run_tags(ad_hoc_model("ocr-rules")) == {"vlmbench/gpus": "0"}


@pytest.mark.requires("docker-compose")
def test_docker_compose_config_validates() -> None:
    done = subprocess.run(
        [shutil.which("docker") or "docker", "compose", "-f", str(DOCKER / "compose.yaml"), "config", "--format", "json"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert set(services) == {"postgres", "code_location", "webserver", "daemon", "chat", "model_service"}
    assert all(service["network_mode"] == "host" for service in services.values())  # never the default bridge
    (gpus,) = services["daemon"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpus["capabilities"] == ["gpu"] and gpus["count"] == -1


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
