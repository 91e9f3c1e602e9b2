"""Where the project keeps its state. One place, so the CLI, Dagster and tests agree.

Every environment variable the project reads is here (and in the README's table), except
`VLMBENCH_CACHE`, which model-hf reads itself (where the tiny Qwen checkpoint is built).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_FILES = "project_files"  # the wheel's copy of registry/, data/, docs (pyproject's wheel sources)


def _checkout() -> Path | None:
    """The repository this package runs from (an editable install or a plain checkout), else None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "registry").is_dir() else None


CHECKOUT = _checkout()
# The project's read-only files (registries, sample data, docs, dagster.yaml), laid out as in the repository:
# the checkout, or, for a non-editable install (the production image), their copy inside the wheel.
REPO_ROOT = CHECKOUT or Path(__file__).resolve().parent / PROJECT_FILES


def _state(in_checkout: str, installed: str) -> Path:
    """A default state folder: in the checkout, or under ~/.vlmbench for an installed package (never in
    site-packages)."""
    return CHECKOUT / in_checkout if CHECKOUT else Path.home() / ".vlmbench" / installed


def data_dir() -> Path:
    """Run outputs (datasets, prediction stores, results, reports). `VLMBENCH_DATA_DIR` overrides."""
    return Path(os.environ.get("VLMBENCH_DATA_DIR", _state(".vlmbench", "data"))).resolve()


def mlflow_tracking_uri() -> str | None:
    """Where each archived result is logged as an MLflow run (`vlm_pipelines/tracking.py`), from
    `VLMBENCH_MLFLOW`: a tracking URI, or `1`/`true` for the local file store `<data dir>/mlruns`; unset,
    empty or `0`/`false`: no tracking."""
    value = os.environ.get("VLMBENCH_MLFLOW", "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return (data_dir() / "mlruns").as_uri()
    return value


def registry_dir() -> Path:
    """The folder holding both YAML registries, `models/` and `tasks/`. `VLMBENCH_REGISTRY_DIR` moves both."""
    return Path(os.environ.get("VLMBENCH_REGISTRY_DIR", REPO_ROOT / "registry")).resolve()


def dagster_home() -> Path:
    """The Dagster instance folder. `DAGSTER_HOME` overrides."""
    return Path(os.environ.get("DAGSTER_HOME", _state(".dagster_home", "dagster_home"))).resolve()


def release_repo() -> Path:
    """The git repository whose `<package>/v<version>` tags the release sensor watches.
    `VLMBENCH_RELEASE_REPO` overrides this checkout (an installed package: the working directory)."""
    return Path(os.environ.get("VLMBENCH_RELEASE_REPO", CHECKOUT or Path.cwd()))


def split_inference() -> bool:
    """A deployment's split: release and scheduled runs start GPU `inference`, then CPU `scoring`
    (`VLMBENCH_SPLIT_INFERENCE=1`); by default they start `evaluate`, all three steps in one run."""
    return os.environ.get("VLMBENCH_SPLIT_INFERENCE", "").lower() in ("1", "true", "yes")


def tag_runner() -> str:
    """Where a release-tag run's inference runs: `subprocess` (default: the tag's cached uv environment)
    or `docker` (the tag's image), from `VLMBENCH_TAG_RUNNER`."""
    runner = os.environ.get("VLMBENCH_TAG_RUNNER", "subprocess").strip().lower() or "subprocess"
    if runner not in ("subprocess", "docker"):
        raise ValueError(f"VLMBENCH_TAG_RUNNER={runner!r}: use subprocess or docker")
    return runner


def tag_image() -> str:
    """The image of a release tag (`{package}` and `{version}` are filled in), `VLMBENCH_TAG_IMAGE`."""
    return os.environ.get("VLMBENCH_TAG_IMAGE", "vlmbench:{package}-{version}")


def tag_python() -> str:
    """The Python inside a tag's image, `VLMBENCH_TAG_PYTHON` (docker/Dockerfile's venv by default)."""
    return os.environ.get("VLMBENCH_TAG_PYTHON", "/opt/vlmbench/.venv/bin/python")


def tag_volumes() -> list[str]:
    """Further bind mounts for a tag's container (`src:dst[:ro]`, comma-separated), `VLMBENCH_TAG_VOLUMES`:
    the Hugging Face cache, say."""
    return [item.strip() for item in os.environ.get("VLMBENCH_TAG_VOLUMES", "").split(",") if item.strip()]


def quiet_model_loading() -> None:
    """Turns off the model libraries' progress bars and info logs (unless set otherwise): they would bury
    the command's own progress lines."""
    for name, value in (
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TQDM_DISABLE", "1"),
    ):
        os.environ.setdefault(name, value)
