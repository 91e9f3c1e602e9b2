"""The production install: the project and its workspace packages built as wheels (`uv build`) and installed
non-editable in a fresh venv, beside the locked third-party dependencies (as docker/Dockerfile's prod target
does). Run from a folder outside the repository with no VLMBENCH_* variable, `vlmbench tasks` and
`vlmbench models` find the registries the wheel carries, the tasks' sample data loads as it does from the
checkout, and state goes under ~/.vlmbench instead of site-packages. VLMBENCH_REGISTRY_DIR points at a
registry of one's own.

The venv holds the root project's locked dependencies, torch included (`vlmbench models` imports it to tell
whether a model runs here); uv links them from its cache. vllm (the `vllm` extra) is left out: model-vllm's
models are listed as not runnable here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.pipeline.conftest import REPO_ROOT
from vlm_pipelines.release_env import uv_executable

pytestmark = pytest.mark.slow

VERSIONED = ["vlm-pipelines", "model-interface", "model-hf", "model-ocr", "model-openai", "model-vllm"]
PROBE = f"""
import json, sys
VERSIONED = {VERSIONED!r}
import vlm_pipelines
from vlm_pipelines import settings
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.tasks import load_task_dataset, load_task_registry
from model_interface.registry import package_version

models, tasks = load_model_registry(), load_task_registry()
def sample_ids(task):
    try:
        return load_task_dataset(task, settings.REPO_ROOT, settings.data_dir() / "cache").samples["sample_id"].to_list()
    except FileNotFoundError:  # a benchmark whose data is downloaded by the user
        return None

samples = {{name: sample_ids(task) for name, task in tasks.items() if task.dataset.path}}
print(json.dumps({{
    "package": vlm_pipelines.__file__, "root": str(settings.REPO_ROOT), "data_dir": str(settings.data_dir()),
    "dagster_home": str(settings.dagster_home()), "models": sorted(models),
    "errors": [str(error) for error in [*models.errors, *tasks.errors]], "samples": samples,
    "versions": {{name: package_version(name) for name in VERSIONED}},
}}))
"""


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **options)
    assert done.returncode == 0, f"{' '.join(command[:4])}: {done.stderr[-2000:]}"
    return done


def names_in(folder: Path) -> list[str]:
    entries = []
    for path in sorted(folder.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries += document if isinstance(document, list) else [document]
    return [entry["name"] for entry in entries]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh venv (its folder)."""
    root = tmp_path_factory.mktemp("wheel")
    uv, venv = uv_executable(), root / "venv"
    run([uv, "build", "--quiet", "--wheel", "--all-packages", "--out-dir", str(root / "dist")], cwd=REPO_ROOT)
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    run(
        [uv, "sync", "--quiet", "--frozen", "--no-dev", "--no-install-workspace", "--python", sys.executable],
        cwd=REPO_ROOT,
        env={**environment, "UV_PROJECT_ENVIRONMENT": str(venv)},
    )  # the third-party dependencies, from uv.lock (the Dockerfile's deps stage)
    run([uv, "pip", "install", "--quiet", "--no-deps", "--python", str(venv / "bin" / "python"),
         *map(str, sorted((root / "dist").glob("*.whl")))])  # fmt: skip
    return venv


def outside_the_repository(venv: Path, tmp_path: Path, **variables: str) -> dict:
    """cwd and environment for a command: a folder outside the repository, HOME there, no project variable."""
    (tmp_path / "home").mkdir(exist_ok=True)
    kept = {key: value for key, value in os.environ.items()
            if key in ("PATH", "LANG", "LC_ALL", "TMPDIR", "UV_CACHE_DIR")}  # fmt: skip
    kept["PATH"] = f"{venv / 'bin'}:{kept.get('PATH', '/usr/bin:/bin')}"
    return {"cwd": tmp_path, "env": {**kept, "HOME": str(tmp_path / "home"), **variables}}


def test_the_wheels_meet_their_requirements_apart_from_the_projects_overrides(installed: Path) -> None:
    check = subprocess.run([uv_executable(), "pip", "check", "--python", str(installed / "bin" / "python")],
                           capture_output=True, text=True)  # fmt: skip
    missing = set(re.findall(r"requires `([A-Za-z0-9_.-]+)", check.stdout + check.stderr))
    overrides = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]
    dropped = {line.split(";")[0].strip() for line in overrides["override-dependencies"] if "'never'" in line}
    assert missing <= dropped, check.stdout + check.stderr


def test_tasks_and_models_come_from_the_wheel_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    where = outside_the_repository(installed, tmp_path)
    tasks = subprocess.run(["vlmbench", "tasks"], capture_output=True, text=True, **where)
    assert tasks.returncode == 0, tasks.stdout + tasks.stderr
    assert "BROKEN" not in tasks.stdout
    listed = [line.split()[0] for line in tasks.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == names_in(REPO_ROOT / "registry" / "tasks")

    models = subprocess.run(["vlmbench", "models"], capture_output=True, text=True, **where)
    assert models.returncode == 0, models.stderr
    model_ids = {line.split()[0] for line in models.stdout.splitlines() if line and not line.startswith(" ")}
    cpu_entries = yaml.safe_load((REPO_ROOT / "registry" / "models" / "cpu.yaml").read_text(encoding="utf-8"))
    assert {entry["model"] for entry in cpu_entries} <= model_ids

    probe = json.loads(run([str(installed / "bin" / "python"), "-c", PROBE], **where).stdout)
    site_packages = Path(probe["package"]).parents[1]
    assert site_packages.is_relative_to(installed)
    assert Path(probe["root"]) == site_packages / "vlm_pipelines" / "project_files"
    assert probe["errors"] == []
    assert probe["models"] == sorted(names_in(REPO_ROOT / "registry" / "models"))
    home = tmp_path / "home" / ".vlmbench"
    assert (probe["data_dir"], probe["dagster_home"]) == (str(home / "data"), str(home / "dagster_home"))
    # A wheel is its release only when its files are the recorded release's, as for the checkout itself.
    from model_interface.registry import package_version

    assert probe["versions"] == {name: package_version(name) for name in VERSIONED}

    from vlm_pipelines.tasks import load_task_dataset, load_task_registry  # the same data from the checkout

    checkout = load_task_registry(REPO_ROOT / "registry" / "tasks")
    expected = {
        name: load_task_dataset(task, REPO_ROOT, tmp_path / "cache").samples["sample_id"].to_list()
        for name, task in checkout.items()
        if task.dataset.path and (REPO_ROOT / task.dataset.path).exists()
    }
    shipped = {name: ids for name, ids in probe["samples"].items() if ids is not None}
    assert shipped == expected and all(expected.values())


def test_a_registry_of_ones_own(installed: Path, tmp_path: Path) -> None:
    own = tmp_path / "own-registry"
    (own / "tasks").mkdir(parents=True)
    task = yaml.safe_load(
        (REPO_ROOT / "registry" / "tasks" / "demo_mini_vqa.yaml").read_text(encoding="utf-8")
    )
    task["name"] = "our_invoices"
    (own / "tasks" / "our_invoices.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")

    where = outside_the_repository(installed, tmp_path, VLMBENCH_REGISTRY_DIR=str(own))
    tasks = subprocess.run(["vlmbench", "tasks"], capture_output=True, text=True, **where)

    assert tasks.returncode == 0, tasks.stdout + tasks.stderr
    assert [line.split()[0] for line in tasks.stdout.splitlines() if not line.startswith(" ")] == [
        "our_invoices"
    ]
