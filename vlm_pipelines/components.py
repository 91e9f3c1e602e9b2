"""System components some features need, how to tell whether each is here, and how to install it.

One table serves `vlmbench doctor` and the test suite: a test marked `@pytest.mark.requires("tesseract")`
skips with the reason and the install command below, and fails instead under CI (`CI=true`), where
`.ci/run` installs every component it can. Probes are cheap: no model is loaded, nothing is started.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str  # the version found, or what is missing


@dataclass(frozen=True)
class Component:
    name: str
    title: str
    enables: str
    install: str
    probe: Callable[[], Probe]
    # False for what no install command can provide here (a GPU): CI reports it as a skip, not a failure.
    installable_in_ci: bool = True


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].strip() if text else ""


def tesseract_languages() -> set[str]:
    if shutil.which("tesseract") is None:
        return set()
    try:
        listing = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line.strip() for line in listing.stdout.splitlines()[1:] if line.strip()}


def _tesseract() -> Probe:
    if shutil.which("tesseract") is None:
        return Probe(False, "the tesseract binary is not on PATH")
    missing = sorted({"rus", "eng"} - tesseract_languages())
    version = _first_line(["tesseract", "--version"])
    if missing:
        return Probe(False, f"{version}, without language data for {'+'.join(missing)}")
    return Probe(True, f"{version} (rus, eng)")


def _rapidocr() -> Probe:
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        return Probe(False, "rapidocr-onnxruntime is not installed")
    from importlib import metadata

    return Probe(True, f"rapidocr-onnxruntime {metadata.version('rapidocr-onnxruntime')} (Latin, digits)")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium() -> Probe:
    path = chromium_path()
    if path is None:
        return Probe(False, "no chromium binary on PATH")
    return Probe(True, _first_line([path, "--version"]) or path)


def _docker() -> Probe:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        return Probe(False, "no dockerd binary (the Docker engine) on PATH")
    if os.geteuid() != 0:  # the tests start a throw-away engine of their own, which mounts and needs root
        return Probe(
            False, "the tests' own Docker engine needs root: run them as root (or in a privileged container)"
        )
    return Probe(True, _first_line([dockerd, "--version"]) or dockerd)


def _docker_compose() -> Probe:
    if shutil.which("docker") is None:
        return Probe(False, "no docker command on PATH")
    version = _first_line(["docker", "compose", "version"])
    if not version.startswith("Docker Compose version v2") and not version.startswith(
        "Docker Compose version 2"
    ):
        return Probe(False, f"no Compose v2 plugin for the docker command ({version or 'not found'})")
    return Probe(True, version)


def postgres_bin_dir() -> str | None:
    """The folder holding `initdb` and `pg_ctl` (Debian keeps them off PATH)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return os.path.dirname(on_path)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def _postgres() -> Probe:
    folder = postgres_bin_dir()
    if folder is None:
        return Probe(False, "no PostgreSQL server binaries (pg_ctl, initdb)")
    return Probe(True, _first_line([os.path.join(folder, "pg_ctl"), "--version"]) or folder)


def _cuda() -> Probe:
    if shutil.which("nvidia-smi") is None:
        return Probe(False, "no NVIDIA driver (nvidia-smi not found)")
    gpus = [line for line in _all_lines(["nvidia-smi", "-L"]) if line.startswith("GPU")]
    if not gpus:
        return Probe(False, "nvidia-smi lists no GPU")
    return Probe(True, "; ".join(gpus))


def _all_lines(command: list[str]) -> list[str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def _python_package(module: str, distribution: str) -> Callable[[], Probe]:
    def probe() -> Probe:
        if importlib.util.find_spec(module) is None:
            return Probe(False, f"{distribution} is not installed")
        from importlib import metadata

        return Probe(True, f"{distribution} {metadata.version(distribution)}")

    return probe


COMPONENTS: dict[str, Component] = {
    component.name: component
    for component in (
        Component(
            "tesseract",
            "Tesseract OCR with Russian and English",
            "ocr-rules / ocr-smollm2 on Russian documents (RapidOCR reads no Cyrillic)",
            "apt-get install -y tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng",
            _tesseract,
        ),
        Component(
            "rapidocr",
            "RapidOCR (ONNX models in its wheel)",
            "OCR of Latin text without Tesseract",
            "uv sync (it is a dependency of model-ocr)",
            _rapidocr,
        ),
        Component(
            "chromium",
            "Chromium (headless)",
            "the real-browser tests of the chat app",
            "apt-get install -y chromium chromium-driver",
            _chromium,
        ),
        Component(
            "docker",
            "Docker engine",
            "the Docker run launcher and its tests",
            "apt-get install -y docker.io",
            _docker,
        ),
        Component(
            "docker-compose",
            "Docker Compose v2 (the docker compose plugin)",
            "validating docker/compose.yaml (`docker compose config`)",
            "apt-get install -y docker.io, plus Compose v2 (Debian trixie's docker-compose package; "
            "bash .ci/install-compose does both)",
            _docker_compose,
        ),
        Component(
            "postgres",
            "PostgreSQL server",
            "a production Dagster instance (dagster-postgres), the chat's database, and their tests",
            "apt-get install -y postgresql",
            _postgres,
        ),
        Component(
            "cuda",
            "CUDA GPU",
            "vLLM, flash-attn and GPU inference with transformers",
            "a machine with an NVIDIA GPU and its driver",
            _cuda,
            installable_in_ci=False,
        ),
        Component(
            "vllm",
            "the vllm extra",
            "the qwen2.5-vl-*-vllm models (on a CUDA GPU)",
            "uv sync --extra vllm",
            _python_package("vllm", "vllm"),
        ),
        Component(
            "flash",
            "the flash extra (flash-attn)",
            "attn_implementation=flash_attention_2 on CUDA",
            "uv sync --extra flash (compiles against CUDA)",
            _python_package("flash_attn", "flash-attn"),
            installable_in_ci=False,
        ),
    )
}


@functools.cache
def probe(name: str) -> Probe:
    """The component's state, probed once per process."""
    if name not in COMPONENTS:
        raise KeyError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}")
    return COMPONENTS[name].probe()


def missing_message(name: str) -> str:
    component = COMPONENTS[name]
    return f"{component.title} is missing ({probe(name).detail}); install: {component.install}"
