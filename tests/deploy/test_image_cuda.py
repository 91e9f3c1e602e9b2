"""docker/Dockerfile's CUDA base images agree with the torch in uv.lock: torch refuses to build an extension
(flash-attn) with a CUDA of another major version, so a lock that moves torch to another CUDA fails here,
not in a 40-minute image build. The flash-attn stage's torch and flash-attn versions are the lock's too."""

from __future__ import annotations

import re
import tomllib

from tests.pipeline.conftest import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")


def locked_packages() -> dict[str, list[dict]]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages: dict[str, list[dict]] = {}
    for package in lock["package"]:
        packages.setdefault(package["name"], []).append(package)
    return packages


def torch_cuda_major() -> int:
    """From the locked torch's CUDA dependencies: the `-cuNN` wheels and the cuda-toolkit version."""
    packages = locked_packages()
    majors = set()
    for torch in packages["torch"]:
        for dependency in torch["dependencies"]:
            suffix = re.fullmatch(r"nvidia-.+-cu(\d+)", dependency["name"])
            if suffix:
                majors.add(int(suffix[1]))
            if dependency["name"] == "cuda-toolkit":
                majors |= {int(toolkit["version"].split(".")[0]) for toolkit in packages["cuda-toolkit"]}
    assert len(majors) == 1, f"the locked torch names CUDA {sorted(majors)}"
    return majors.pop()


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, f"docker/Dockerfile has no `ARG {name}=...`"
    return match[1]


def test_the_cuda_base_images_are_the_locked_torchs_cuda() -> None:
    major = torch_cuda_major()
    for name in ("BASE", "BUILD_BASE"):
        image = dockerfile_arg(name)
        version = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-cudnn-(runtime|devel)-ubuntu[\d.]+", image)
        assert version, f"{name}={image} is not an nvidia/cuda cudnn image"
        assert int(version[1]) == major, (
            f"{name}={image}: CUDA {version[1]}, the locked torch is CUDA {major}"
        )
    assert "-devel-" in dockerfile_arg("BUILD_BASE")  # nvcc, for flash-attn
    cache_ids = re.findall(r"id=flash-attn-cuda(\d+)\.\d+", DOCKERFILE)
    assert cache_ids and {int(found) for found in cache_ids} == {major}


def test_the_flash_attn_stage_builds_against_the_locked_versions() -> None:
    packages = locked_packages()
    assert dockerfile_arg("TORCH_VERSION") in {torch["version"] for torch in packages["torch"]}
    assert dockerfile_arg("FLASH_ATTN_VERSION") in {flash["version"] for flash in packages["flash-attn"]}
