"""The cost of a release tag's isolated environment (vlm_pipelines.release_env): the first build of the
environment of `model-ocr/v<version>` (git worktree, `uv export` of the tag's lock, venv, install), then
a cached reuse, in a temporary clone of this repository. `--cold-uv-cache` also measures a first build
with an empty uv cache (every wheel downloaded from the index).

    uv run --frozen python bench/tag_env_cost.py [--repeats 3] [--package model-ocr] [--cold-uv-cache]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from vlm_pipelines.release_env import tag_environment  # noqa: E402
from vlm_pipelines.release_tags import list_release_tags  # noqa: E402


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def tagged_clone(folder: Path, package: str):
    repo = folder / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(repo)], check=True)
    version = (
        (repo / "model_packages" / package / "pyproject.toml")
        .read_text()
        .split('version = "')[1]
        .split('"')[0]
    )
    git(
        repo, "-c", "user.name=b", "-c", "user.email=b@b", "tag", "-a", f"{package}/v{version}", "-m", "bench"
    )
    (tag,) = [tag for tag in list_release_tags(repo) if tag.package == package]
    return repo, tag


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--package", default="model-ocr")
    parser.add_argument("--cold-uv-cache", action="store_true")
    args = parser.parse_args()
    first, reuse, cold = [], [], []
    with tempfile.TemporaryDirectory(prefix="tag-env-bench-") as tmp:
        repo, tag = tagged_clone(Path(tmp), args.package)
        for repeat in range(args.repeats):
            cache = Path(tmp) / f"envs-{repeat}"
            environment = tag_environment(tag, repo, cache)
            first.append(environment.build_s)
            started = time.perf_counter()
            again = tag_environment(tag, repo, cache)
            reuse.append(time.perf_counter() - started)
            assert again.reused
            print(
                f"repeat {repeat + 1}: first build {first[-1]:.2f} s, cached reuse {reuse[-1] * 1000:.1f} ms",
                flush=True,
            )
        if args.cold_uv_cache:
            os.environ["UV_CACHE_DIR"] = str(Path(tmp) / "uv-cache")
            cold.append(tag_environment(tag, repo, Path(tmp) / "envs-cold").build_s)
            print(f"first build with an empty uv cache: {cold[0]:.1f} s", flush=True)
        versions = environment.versions()
    print(
        f"\n{tag.name}: {len(versions)} recorded versions (model-ocr {versions.get('model-ocr')}, onnxruntime "
        f"{versions.get('onnxruntime')})\n| step | median |\n| :--- | ---: |\n"
        f"| first build (warm uv cache) | {statistics.median(first):.2f} s |\n"
        f"| cached reuse | {statistics.median(reuse) * 1000:.1f} ms |\n"
        + (f"| first build (empty uv cache) | {cold[0]:.1f} s |\n" if cold else "")
        + f"\nratio first build / reuse: {statistics.median(first) / statistics.median(reuse):.0f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
