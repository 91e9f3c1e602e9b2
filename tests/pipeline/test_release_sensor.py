"""The release-tag sensor against a real temporary git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.model_registry import EvaluatedModel
from vlm_pipelines.release_tags import list_release_tags
from vlm_pipelines.tasks import load_task_registry


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def release_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "first")
    monkeypatch.setenv("VLMBENCH_RELEASE_REPO", str(repo))
    return repo


@pytest.fixture
def sensor_and_tasks():
    models = {
        "tiny-qwen2.5-vl": EvaluatedModel(name="tiny-qwen2.5-vl", model="tiny-qwen2.5-vl"),
        "smollm2": EvaluatedModel(name="smollm2", model="smollm2-135m"),
        "ocr-rules": EvaluatedModel(name="ocr-rules", model="ocr-rules"),
    }
    all_tasks = load_task_registry()
    tasks = {name: all_tasks[name] for name in ("synth_vqa_en", "synth_vqa_ru")}
    defs = build_definitions(models, tasks)
    return defs.resolve_sensor_def("model_release_sensor"), tasks


def evaluate(sensor, cursor: str | None):
    with dg.instance_for_test() as instance:
        return sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def partitions_of(result) -> list[str]:
    return sorted(str(request.partition_key) for request in result.run_requests)


def test_tags_are_parsed_with_package_version_and_commit(release_repo: Path) -> None:
    git(release_repo, "tag", "model-hf/v0.1.0")
    git(release_repo, "tag", "-a", "model-ocr/v1.2.3rc1", "-m", "annotated")
    git(release_repo, "tag", "not-a-release")
    tags = list_release_tags(release_repo)
    assert [(t.name, t.package, t.version) for t in tags] == [
        ("model-hf/v0.1.0", "model-hf", "0.1.0"),
        ("model-ocr/v1.2.3rc1", "model-ocr", "1.2.3rc1"),
    ]
    assert tags[0].commit == tags[1].commit  # the annotated tag is peeled to its commit


def test_new_tag_runs_affected_partitions_once(release_repo: Path, sensor_and_tasks) -> None:
    sensor, tasks = sensor_and_tasks

    git(release_repo, "tag", "model-hf/v0.1.0")
    first = evaluate(sensor, None)
    assert partitions_of(first) == sorted(
        f"{model}|{task}" for model in ("smollm2", "tiny-qwen2.5-vl") for task in tasks
    )
    request = first.run_requests[0]
    assert request.tags["vlmbench/package"] == "model-hf"
    assert request.tags["vlmbench/package_version"] == "0.1.0"
    assert request.tags["vlmbench/release_tag"] == "model-hf/v0.1.0"

    # The same tag again (e.g. after a daemon restart, from the stored cursor): nothing.
    again = evaluate(sensor, first.cursor)
    assert isinstance(again, dg.SkipReason)

    # A new tag of another package: exactly that package's model partitions.
    git(release_repo, "tag", "model-ocr/v0.2.0")
    second = evaluate(sensor, first.cursor)
    assert partitions_of(second) == sorted(f"ocr-rules|{task}" for task in tasks)
    assert {r.tags["vlmbench/package_version"] for r in second.run_requests} == {"0.2.0"}
    assert len({r.run_key for r in first.run_requests + second.run_requests}) == len(
        first.run_requests + second.run_requests
    )


def test_a_package_no_model_uses_requests_nothing(release_repo: Path, sensor_and_tasks) -> None:
    sensor, _ = sensor_and_tasks
    git(release_repo, "tag", "model-vllm/v0.1.0")
    result = evaluate(sensor, None)
    assert result.run_requests == []
    assert "model-vllm/v0.1.0" in result.cursor


def test_a_release_of_a_package_a_model_uses_re_evaluates_that_model_too(release_repo: Path) -> None:
    # Issue 8: ocr-smollm2 runs model-hf's SmolLM2; a model-hf release neither invalidated nor re-ran it.
    models = {
        "ocr-rules": EvaluatedModel(name="ocr-rules", model="ocr-rules"),
        "ocr-smollm2": EvaluatedModel(name="ocr-smollm2", model="ocr-smollm2"),
    }
    tasks = {"synth_vqa_en": load_task_registry()["synth_vqa_en"]}
    sensor = build_definitions(models, tasks).resolve_sensor_def("model_release_sensor")
    git(release_repo, "tag", "model-hf/v0.2.0")
    assert partitions_of(evaluate(sensor, None)) == ["ocr-smollm2|synth_vqa_en"]


def test_the_versions_of_the_packages_a_model_uses_are_part_of_its_key() -> None:
    from vlm_pipelines.evaluation.identity import ModelIdentity

    def identity(hf_version: str, versions: dict | None = None) -> ModelIdentity:
        return ModelIdentity(
            name="ocr-smollm2",
            model_id="ocr-smollm2",
            package="model-ocr",
            package_version="0.1.0",
            package_versions=versions or {"model-ocr": "0.1.0", "model-hf": hf_version},
            params={},
            resolved={"ocr_engine": "tesseract"},
        )

    assert identity("0.1.0").params_hash != identity("0.2.0").params_hash
    assert identity("", {"model-ocr": "1"}).identity_settings == {"ocr_engine": "tesseract"}
