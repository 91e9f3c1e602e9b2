"""A release tag evaluates exactly that release: in a temporary clone of this repository, model-ocr is
tagged v0.1.0, its output changed, and `vlmbench release model-ocr minor` tags v0.2.0. The release sensor
yields a run per tag; each run's predictions come from its own tag's code, answered in the tag's own uv
environment through Dagster Pipes; the leaderboard history shows both versions. A model-vllm tag's
environment installs vllm, which the root project's `vllm` extra brings in with model-vllm."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.deploy.ocr_demo import ocr_demo
from tests.pipeline.conftest import REPO_ROOT, run_vlmbench

pytestmark = pytest.mark.slow
CHANGED_LINE = (
    "item.request, text, prompt_tokens=prompt_words,",
    'item.request, f"{text} (v2)", prompt_tokens=prompt_words,',
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(repo)], check=True)
    git(repo, "config", "user.name", "release test")
    git(repo, "config", "user.email", "release@test")
    monkeypatch.setenv("VLMBENCH_RELEASE_REPO", str(repo))
    return repo


def test_each_release_tag_is_evaluated_in_its_own_environment(
    clone: Path, project_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    version = (
        git(clone, "show", "HEAD:model_packages/model-ocr/pyproject.toml")
        .split('version = "')[1]
        .split('"')[0]
    )
    git(clone, "tag", "-f", "-a", f"model-ocr/v{version}", "-m", "first release")  # -f: the clone may hold it
    adapter = clone / "model_packages" / "model-ocr" / "src" / "model_ocr" / "adapter.py"
    source = adapter.read_text(encoding="utf-8")
    assert CHANGED_LINE[0] in source
    adapter.write_text(source.replace(*CHANGED_LINE), encoding="utf-8")
    git(clone, "commit", "-q", "-am", "model-ocr: answers marked (v2)")
    code, out, err = run_vlmbench(["release", "model-ocr", "minor", "--repo", str(clone)], capsys)
    assert code == 0, err
    major, minor, _ = (int(part) for part in version.split(".")[:3])
    new_version = f"{major}.{minor + 1}.0"
    assert f"tagged model-ocr/v{new_version}" in out
    changelog = (clone / "model_packages" / "model-ocr" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {new_version} (" in changelog and "- model-ocr: answers marked (v2) (" in changelog
    assert (
        git(clone, "status", "--porcelain", "--untracked-files=no") == ""
    )  # bump, changelog, lock committed

    demo = ocr_demo(max_samples=4, batch_size=2)
    defs, task = demo.defs, demo.task
    with dg.DagsterInstance.get() as instance:
        sensor = defs.resolve_sensor_def("model_release_sensor")
        requests = sensor(dg.build_sensor_context(instance=instance)).run_requests
        assert sorted(request.tags["vlmbench/package_version"] for request in requests) == [
            version,
            new_version,
        ]
        demo.prepare_dataset(instance)
        runs, timings = {}, {}
        for request in sorted(requests, key=lambda r: r.tags["vlmbench/package_version"]):
            started = time.perf_counter()
            result = defs.resolve_job_def("evaluate").execute_in_process(
                partition_key=request.partition_key, tags=request.tags, instance=instance
            )
            assert result.success
            runs[request.tags["vlmbench/package_version"]] = result
            timings[request.tags["vlmbench/package_version"]] = time.perf_counter() - started
        again = defs.resolve_job_def("evaluate").execute_in_process(
            partition_key=requests[0].partition_key, tags=requests[0].tags, instance=instance
        )
        assert again.success
        assert defs.resolve_job_def("leaderboard_job").execute_in_process(instance=instance).success

    def predictions_metadata(result) -> dict:
        (event,) = [e for e in result.get_asset_materialization_events()
                    if e.asset_key == dg.AssetKey("predictions")]  # fmt: skip
        return {key: getattr(value, "value", value) for key, value in event.materialization.metadata.items()}

    first, second = predictions_metadata(runs[version]), predictions_metadata(runs[new_version])
    assert (first["package_version"], second["package_version"]) == (version, new_version)
    assert (
        first["resolved_versions"]["model-ocr"] == version
        and second["resolved_versions"]["model-ocr"] == new_version
    )
    assert first["resolved_versions"]["onnxruntime"] != "not installed"
    assert first["tag_environment"] != second["tag_environment"]
    with dg.DagsterInstance.get() as instance:  # the exact versions are in the runs' tags too
        tags = instance.get_run_by_id(runs[new_version].run_id).tags
    assert (
        tags["vlmbench/version/model-ocr"] == new_version
        and tags["vlmbench/version/torch"] == "not installed"
    )
    assert first["tag_environment_build_s"] > 0 and not first["tag_environment_reused"]
    assert predictions_metadata(again)["tag_environment_reused"]  # the cached environment

    # Each release's own code answered: the new release marks what the first one read.
    data_dir = Path(project_env["VLMBENCH_DATA_DIR"])
    table = pl.concat(
        [
            pl.read_parquet(path)
            for path in (data_dir / "predictions" / "ocr-rules" / task.name).glob("*.parquet")
        ]
    )
    by_version = {
        v: dict(zip(rows["sample_id"], rows["text"], strict=True))
        for v, rows in ((v, table.filter(pl.col("package_version") == v)) for v in (version, new_version))
    }
    assert len(by_version[version]) == 4 and by_version[version].keys() == by_version[new_version].keys()
    assert not any(text.endswith(" (v2)") for text in by_version[version].values())
    assert all(by_version[new_version][key] == f"{text} (v2)" for key, text in by_version[version].items())

    board = json.loads(
        (data_dir / "reports" / "leaderboard" / "leaderboard.json").read_text(encoding="utf-8")
    )
    versions = {row["version"] for row in board["history"] if row["model"] == "ocr-rules"}
    assert {version, new_version} <= versions
    print(f"tag environments: first build + run {timings[version]:.1f} s, second tag {timings[new_version]:.1f} s; "
          f"build {first['tag_environment_build_s']:.1f} s and {second['tag_environment_build_s']:.1f} s")  # fmt: skip


def locked_versions() -> dict[str, set[str]]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        versions.setdefault(package["name"], set()).add(package.get("version", ""))
    return versions


def test_a_vllm_release_environment_installs_the_vllm_extra(tmp_path: Path) -> None:
    """What a model-vllm tag's environment would install, resolved by the environment's own install command
    with `--dry-run` into a fresh venv: vllm and torch at the locked versions (installing them would take
    several GB, so the install itself is not run)."""
    from vlm_pipelines.release_env import export_requirements, install_command, uv_executable

    locked = locked_versions()
    (vllm_version,) = locked["vllm"]
    (tmp_path / "vllm").mkdir()
    needed = export_requirements(REPO_ROOT, ["model-vllm"], tmp_path / "vllm")
    assert needed.extras == {"vllm": [f"vllm=={vllm_version}"]}
    requirements = needed.requirements.read_text(encoding="utf-8").splitlines()
    assert f"vllm=={vllm_version}" in requirements
    assert needed.constraints is not None
    assert any(
        line.startswith("torch==") for line in needed.constraints.read_text(encoding="utf-8").splitlines()
    )

    (tmp_path / "ocr").mkdir()
    ocr = export_requirements(REPO_ROOT, ["model-ocr"], tmp_path / "ocr")  # in no root extra: no vllm
    assert ocr.extras == {} and ocr.constraints is None
    assert not any(
        line.startswith("vllm") for line in ocr.requirements.read_text(encoding="utf-8").splitlines()
    )

    venv = tmp_path / "venv"
    subprocess.run([uv_executable(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    done = subprocess.run(
        [*install_command(str(venv / "bin" / "python"), needed), "--dry-run"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    would_install = dict(re.findall(r"^ \+ (\S+)==(\S+)$", done.stderr, re.MULTILINE))
    assert would_install["vllm"] == vllm_version
    assert would_install["torch"] in locked["torch"]
    off_lock = {name: v for name, v in would_install.items() if name in locked and v not in locked[name]}
    assert off_lock == {}, f"not the locked versions: {off_lock}"
